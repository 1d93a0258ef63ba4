"""Reads a dataset through a BlobCache node with the Azure SDK for Python's asyncio client (azure.storage.blob.aio):
the account's container list, the container's listing with metadata, each blob's properties, and each blob's bytes
by parallel ranged downloads with validate_content (every range's MD5 checked). Prints one JSON object mapping each
blob name to the SHA-256 of the bytes read."""
import asyncio
import hashlib
import json
import sys

from azure.storage.blob.aio import BlobServiceClient


async def main():
    connection_string, container = sys.argv[1], sys.argv[2]
    async with BlobServiceClient.from_connection_string(connection_string, max_chunk_get_size=4 * 1024 * 1024) as service:
        containers = [c.name async for c in service.list_containers()]
        if container not in containers:
            raise SystemExit(f"list_containers did not show {container}: {containers}")
        client = service.get_container_client(container)
        names = sorted([b.name async for b in client.list_blobs(include=["metadata"])])
        semaphore = asyncio.Semaphore(4)

        async def read(name):
            async with semaphore:
                blob = client.get_blob_client(name)
                props = await blob.get_blob_properties()
                downloader = await blob.download_blob(max_concurrency=4, validate_content=True)
                data = await downloader.readall()
                if len(data) != props.size:
                    raise SystemExit(f"{name}: {len(data)} bytes read, properties say {props.size}")
                return name, hashlib.sha256(data).hexdigest()

        hashes = dict(await asyncio.gather(*(read(n) for n in names)))
    json.dump(hashes, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main())
