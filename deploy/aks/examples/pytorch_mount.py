"""Read a dataset from a BlobCache FUSE mount: plain files, no SDK, no BlobCache-specific code.

The chart mounts ACCOUNT/CONTAINER/PREFIX read-only at a directory (mount.paths); this script is any local-path
loader pointed at it. Files are read whole by DataLoader workers; directories come from the container's listing.
"""
import os
import sys
import time

import torch
from torch.utils.data import DataLoader, Dataset


class FileDataset(Dataset):
    """One sample per file under a directory (a torchvision ImageFolder, WebDataset shards, .npy files...)."""

    def __init__(self, root: str):
        self.paths = sorted(os.path.join(d, f) for d, _, files in os.walk(root) for f in files)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        with open(self.paths[i], "rb") as f:
            data = f.read()
        return torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.empty(0, dtype=torch.uint8)


def main() -> None:
    root = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("DATASET_DIR", "/mnt/blobcache/train")
    workers = int(os.environ.get("LOADER_WORKERS", "8"))
    dataset = FileDataset(root)
    loader = DataLoader(dataset, batch_size=None, num_workers=workers, shuffle=True)
    for epoch in range(int(os.environ.get("EPOCHS", "2"))):
        started, total = time.monotonic(), 0
        for sample in loader:
            total += sample.numel()  # the model's step goes here
        seconds = time.monotonic() - started
        print(f"epoch {epoch}: {len(dataset)} files, {total / 2**20:.0f} MiB in {seconds:.1f} s ({total / 2**20 / seconds:.0f} MiB/s)")


if __name__ == "__main__":
    main()
