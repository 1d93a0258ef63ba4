"""Reads a dataset through a BlobCache node the way a training job does: the Azure SDK for Python pointed at the
node's local endpoint, and a PyTorch DataLoader with several worker processes. Prints one JSON object mapping each
blob name to the SHA-256 of the bytes read, so the caller can compare with what it uploaded."""
import hashlib
import json
import sys

import torch
from torch.utils.data import DataLoader, Dataset
from azure.storage.blob import BlobServiceClient


class BlobDataset(Dataset):
    def __init__(self, connection_string, container, names):
        self.connection_string = connection_string
        self.container = container
        self.names = names
        self.client = None  # made in each worker process: clients do not cross fork

    def __len__(self):
        return len(self.names)

    def __getitem__(self, i):
        if self.client is None:
            self.client = BlobServiceClient.from_connection_string(self.connection_string).get_container_client(self.container)
        data = self.client.download_blob(self.names[i], max_concurrency=2).readall()
        # A tensor, as a real loader would hand to the model; the hash proves the bytes.
        tensor = torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.empty(0, dtype=torch.uint8)
        return self.names[i], hashlib.sha256(tensor.numpy().tobytes()).hexdigest()


def main():
    connection_string, container, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = BlobServiceClient.from_connection_string(connection_string).get_container_client(container)
    names = sorted(b.name for b in client.list_blobs())
    loader = DataLoader(BlobDataset(connection_string, container, names), batch_size=None, num_workers=workers, shuffle=True)
    hashes = {name: digest for name, digest in loader}
    json.dump(hashes, sys.stdout)


if __name__ == "__main__":
    main()
