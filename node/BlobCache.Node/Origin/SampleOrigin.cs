using System.Buffers.Binary;
using System.Globalization;
using BlobCache.Mesh.Placement;

namespace BlobCache.Node.Origin;

/// <summary>
/// A built-in, read-only origin of generated blobs (<c>--origin sample</c>): container <c>sample</c> holds
/// <c>shard-000.bin</c>… whose bytes are a pure function of (blob, offset), so every node generates the same
/// bytes without a network and a reader can check them. It lets the quick start run where Azurite is missing.
/// </summary>
public sealed class SampleOrigin(int blobs = 16, long blobBytes = 16L * 1024 * 1024) : IBlobOrigin
{
    public const string Container = "sample";
    private const string ETag = "\"0x5A3D1E0000000001\"";
    private static readonly DateTimeOffset Modified = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public string AccountName => "devstoreaccount1";
    public string Describe => $"built-in sample: {blobs} blobs of {blobBytes >> 20} MiB in container '{Container}'";
    public int BlobCount => blobs;
    public long BlobBytes => blobBytes;

    public static string BlobName(int i) => $"shard-{i:D3}.bin";

    private int IndexOf(string container, string blob)
    {
        if (container != Container || !blob.StartsWith("shard-", StringComparison.Ordinal) || !blob.EndsWith(".bin", StringComparison.Ordinal)) return -1;
        return int.TryParse(blob.AsSpan(6, blob.Length - 10), NumberStyles.None, CultureInfo.InvariantCulture, out int i) && i < blobs && BlobName(i) == blob ? i : -1;
    }

    public Task<BlobInfo?> GetBlobAsync(string container, string blob, CancellationToken cancellationToken) => container != Container
        ? Task.FromException<BlobInfo?>(new OriginException(404, "ContainerNotFound", "The specified container does not exist."))
        : Task.FromResult(IndexOf(container, blob) < 0 ? null : new BlobInfo(blobBytes, ETag, Modified, "application/octet-stream", null));

    public Task ReadAsync(string container, string blob, string etag, long blobLength, long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        int index = IndexOf(container, blob);
        if (index < 0 || etag != ETag || blobLength != blobBytes) throw new BlobChangedException(container, blob, etag);
        Fill(index, offset, destination.Span);
        return Task.CompletedTask;
    }

    /// <summary>The bytes of blob <paramref name="index"/> from <paramref name="offset"/>: 8-byte words of a keyed mix.</summary>
    public static void Fill(int index, long offset, Span<byte> destination)
    {
        ulong key = StableHash.Mix(0x5A3D1E, (ulong)index);
        Span<byte> word = stackalloc byte[8];
        for (int i = 0; i < destination.Length;)
        {
            long at = offset + i;
            BinaryPrimitives.WriteUInt64LittleEndian(word, StableHash.Mix(key, (ulong)(at >> 3)));
            int from = (int)(at & 7);
            int n = Math.Min(8 - from, destination.Length - i);
            word.Slice(from, n).CopyTo(destination[i..]);
            i += n;
        }
    }

    public Task<ContainerInfo?> GetContainerAsync(string container, CancellationToken cancellationToken) =>
        Task.FromResult(container == Container ? new ContainerInfo(ETag, Modified) : null);

    public Task<ListPage?> ListAsync(string container, string? prefix, string? delimiter, string? marker, int? maxResults, CancellationToken cancellationToken)
    {
        if (container != Container) return Task.FromResult<ListPage?>(null);
        var names = Enumerable.Range(0, blobs).Select(BlobName)
            .Where(n => (prefix is null || n.StartsWith(prefix, StringComparison.Ordinal)) && (marker is null || string.CompareOrdinal(n, marker) > 0))
            .ToList();
        int take = Math.Min(maxResults ?? 5000, names.Count);
        var items = names.Take(take).Select(n => new ListedBlob(n, false, blobBytes, ETag, Modified, "application/octet-stream")).ToList();
        return Task.FromResult<ListPage?>(new ListPage(items, take < names.Count ? names[take - 1] : null));
    }

    public Task<bool> PingAsync(CancellationToken cancellationToken) => Task.FromResult(true);
}
