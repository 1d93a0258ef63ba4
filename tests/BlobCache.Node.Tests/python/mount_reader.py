"""Reads every file under a directory the way local-path training code does, and writes one JSON object mapping
each relative path to the SHA-256 of the bytes read (to the file named last, so library warnings on stderr never
mix with it).

  mount_reader.py ROOT open OUT          plain open() and read()
  mount_reader.py ROOT mmap OUT          mmap of each file (what NumPy memory maps and safetensors do)
  mount_reader.py ROOT dataloader N OUT  a PyTorch DataLoader with N worker processes over the file paths
"""
import hashlib
import json
import mmap
import os
import sys


def paths(root):
    found = []
    for directory, _, files in os.walk(root):
        for name in files:
            found.append(os.path.relpath(os.path.join(directory, name), root))
    return sorted(found)


def read_open(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def read_mmap(path):
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return hashlib.sha256(b"").hexdigest()  # an empty file cannot be mapped
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return hashlib.sha256(m).hexdigest()


def read_dataloader(root, names, workers):
    import torch
    from torch.utils.data import DataLoader, Dataset

    class Files(Dataset):
        def __len__(self):
            return len(names)

        def __getitem__(self, i):
            with open(os.path.join(root, names[i]), "rb") as f:
                data = f.read()
            # A tensor, as a real loader would hand to the model; the hash proves the bytes.
            tensor = torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.empty(0, dtype=torch.uint8)
            return names[i], hashlib.sha256(tensor.numpy().tobytes()).hexdigest()

    loader = DataLoader(Files(), batch_size=None, num_workers=workers, shuffle=True)
    return {name: digest for name, digest in loader}


def main():
    root, mode, out = sys.argv[1], sys.argv[2], sys.argv[-1]
    names = paths(root)
    if mode == "open":
        hashes = {n: read_open(os.path.join(root, n)) for n in names}
    elif mode == "mmap":
        hashes = {n: read_mmap(os.path.join(root, n)) for n in names}
    elif mode == "dataloader":
        hashes = read_dataloader(root, names, int(sys.argv[3]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    with open(out, "w") as f:
        json.dump(hashes, f)


if __name__ == "__main__":
    main()
