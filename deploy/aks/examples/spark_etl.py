"""PySpark job that reads Blob through the BlobCache node on each executor's host (daemonset mode).

The driver lists the blobs, the executors read them: every read goes to http://$HOST_IP:7480/ACCOUNT, the
node on the executor's own host (HOST_IP comes from the pod template's downward API), so a dataset read by
many executors is fetched from Blob about once per chunk per region. Needs azure-storage-blob in the image.
"""
import os
import sys

from azure.storage.blob import BlobServiceClient
from pyspark.sql import SparkSession


def container_client(container: str):
    account = os.environ.get("BLOB_ACCOUNT", "ACCOUNT")
    host = os.environ.get("HOST_IP", "127.0.0.1")
    conn = os.environ.get("AZURE_STORAGE_CONNECTION_STRING") or (
        f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey=bm90LXVzZWQ=;"
        f"BlobEndpoint=http://{host}:7480/{account};")
    return BlobServiceClient.from_connection_string(conn).get_container_client(container)


def read_partition(container: str):
    def read(names):
        client = container_client(container)
        for name in names:
            data = client.download_blob(name, max_concurrency=4).readall()
            yield name, len(data)
    return read


if __name__ == "__main__":
    container, prefix = (sys.argv[1:] + ["datasets", "logs/"])[:2]
    spark = SparkSession.builder.appName("blobcache-etl").getOrCreate()
    names = [b.name for b in container_client(container).list_blobs(name_starts_with=prefix)]
    sizes = spark.sparkContext.parallelize(names, max(1, len(names) // 16)).mapPartitions(read_partition(container))
    total = sizes.map(lambda kv: kv[1]).sum()
    print(f"{len(names)} blobs, {total} bytes read through BlobCache")
    spark.stop()
