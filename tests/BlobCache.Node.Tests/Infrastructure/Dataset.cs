using System.Security.Cryptography;
using Azure.Storage.Blobs;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Infrastructure;

/// <summary>A dataset uploaded to Azurite: blobs of awkward sizes (empty, one byte, exactly one chunk, one past it, many chunks) and their hashes.</summary>
public sealed class Dataset
{
    public const string Container = "dataset";
    private const int MiB = 1024 * 1024;

    public IReadOnlyDictionary<string, string> Sha256 { get; }
    public IReadOnlyDictionary<string, long> Lengths { get; }

    private Dataset(Dictionary<string, string> sha, Dictionary<string, long> lengths)
    {
        Sha256 = sha;
        Lengths = lengths;
    }

    /// <summary>Chunks in the dataset at a chunk size: what "each chunk read from Blob once" counts.</summary>
    public long ChunkCount(int chunkSize) => Lengths.Values.Sum(l => (l + chunkSize - 1) / chunkSize);

    public long TotalBytes => Lengths.Values.Sum();

    public static async Task<Dataset> UploadAsync(BlobServiceClient origin, int seed)
    {
        BlobContainerClient container = origin.GetBlobContainerClient(Container);
        await container.CreateIfNotExistsAsync().ConfigureAwait(false);
        var sizes = new List<(string Name, long Size)>
        {
            ("edge/empty.bin", 0), ("edge/one.bin", 1), ("edge/exact-chunk.bin", 4 * MiB), ("edge/chunk-plus-one.bin", 4 * MiB + 1),
            ("big/nine.bin", 9 * MiB + 7), ("big/seventeen.bin", 17 * MiB + 333), ("big/forty.bin", 40 * MiB + 12345),
            ("big/sixty-four.bin", 64 * MiB), ("big/hundred.bin", 100 * MiB + 3),
        };
        for (int i = 0; i < 24; i++) sizes.Add(($"samples/sample-{i:D3}.bin", 300_000 + i * 40_000));
        var sha = new Dictionary<string, string>();
        var lengths = new Dictionary<string, long>();
        var random = new Random(seed);
        await Parallel.ForEachAsync(sizes, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (item, ct) =>
        {
            byte[] data = new byte[item.Size];
            lock (random) random.NextBytes(data);
            await container.GetBlobClient(item.Name).UploadAsync(new BinaryData(data), overwrite: true, ct).ConfigureAwait(false);
            lock (sha)
            {
                sha[item.Name] = Convert.ToHexStringLower(SHA256.HashData(data));
                lengths[item.Name] = item.Size;
            }
        }).ConfigureAwait(false);
        return new Dataset(sha, lengths);
    }
}
