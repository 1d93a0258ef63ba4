"""Read a dataset through the node-local BlobCache endpoint with the Azure SDK for Python.

The only BlobCache-specific part is the connection string: its BlobEndpoint names the node
(127.0.0.1 for a sidecar, the host's address for the DaemonSet). Everything else is the plain SDK.
"""
import io
import os

import torch
from azure.storage.blob import BlobServiceClient
from torch.utils.data import DataLoader, Dataset


def blob_service() -> BlobServiceClient:
    host = os.environ.get("HOST_IP", "127.0.0.1")           # DaemonSet: status.hostIP; sidecar: loopback
    port = os.environ.get("BLOBCACHE_HTTP_PORT", "7480")
    account = os.environ.get("BLOB_ACCOUNT", "ACCOUNT")
    conn = os.environ.get("AZURE_STORAGE_CONNECTION_STRING") or (
        f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey=bm90LXVzZWQ=;"
        f"BlobEndpoint=http://{host}:{port}/{account};")
    return BlobServiceClient.from_connection_string(conn)


class BlobDataset(Dataset):
    """One sample per blob under a prefix; each worker opens its own client after fork."""

    def __init__(self, container: str, prefix: str):
        self.container, self.prefix = container, prefix
        self.names = [b.name for b in blob_service().get_container_client(container).list_blobs(name_starts_with=prefix)]
        self._client = None

    def __len__(self):
        return len(self.names)

    def __getitem__(self, i):
        if self._client is None:
            self._client = blob_service().get_container_client(self.container)
        data = self._client.download_blob(self.names[i], max_concurrency=4).readall()
        return torch.load(io.BytesIO(data)) if self.names[i].endswith(".pt") else torch.frombuffer(bytearray(data), dtype=torch.uint8)


if __name__ == "__main__":
    ds = BlobDataset(os.environ.get("DATASET_CONTAINER", "datasets"), os.environ.get("DATASET_PREFIX", "train/"))
    loader = DataLoader(ds, batch_size=None, shuffle=True, num_workers=int(os.environ.get("NUM_WORKERS", "4")))
    for epoch in range(2):
        total = sum(x.numel() for x in loader)
        print(f"epoch {epoch}: {len(ds)} blobs, {total} bytes")
