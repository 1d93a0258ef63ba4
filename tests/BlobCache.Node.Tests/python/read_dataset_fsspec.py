"""Reads blobs through a BlobCache node with fsspec's generic HTTP filesystem (python3-fsspec; adlfs, fsspec's Azure
filesystem, is not packaged by Debian): each blob's size from its headers, then its bytes as fsspec file objects read
them, in block-sized ranged GETs. Names are read from stdin, one a line. Prints one JSON object mapping each blob
name to the SHA-256 of the bytes read."""
import hashlib
import json
import sys
from urllib.parse import quote

import fsspec


def main():
    endpoint, container = sys.argv[1], sys.argv[2]
    names = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    fs = fsspec.filesystem("http")
    hashes = {}
    for name in names:
        url = f"{endpoint}/{container}/{quote(name)}"
        size = fs.size(url)
        digest = hashlib.sha256()
        with fs.open(url, "rb", block_size=1024 * 1024) as f:
            while chunk := f.read(3 * 1024 * 1024 + 17):
                digest.update(chunk)
        if f.loc != size:
            raise SystemExit(f"{name}: read {f.loc} bytes, size says {size}")
        hashes[name] = digest.hexdigest()
    json.dump(hashes, sys.stdout)


if __name__ == "__main__":
    main()
