using BlobCache.Fuse;
using BlobCache.Node.Config;
using BlobCache.Node.Endpoint;
using BlobCache.Node.Origin;
using BlobCache.Node.Reading;
using BlobCache.Store;

namespace BlobCache.Node.Mount;

/// <summary>
/// A mount's files through the node's own read path: properties from the metadata cache (the ETag an open pins),
/// directories from List Blobs with delimiter '/', bytes from memory → disk → peers → Blob via the chunk reader.
/// </summary>
internal sealed class BlobMountSource(MountSpec spec, IBlobOrigin origin, BlobMetadataCache metadata, ChunkReader reader) : IMountSource
{
    // Bounded: a directory of 50 million blobs is listed in 10,000 pages; past that it shows what was listed.
    private const int MaxListPages = 10_000;
    private readonly string _account = origin.AccountName; // chunk keys name the origin's account, as the endpoint's do

    public int ChunkSize => reader.ChunkSize;

    private string BlobName(string path) =>
        spec.Prefix.Length == 0 ? path : path.Length == 0 ? spec.Prefix : spec.Prefix + "/" + path;

    private string? DirectoryPrefix(string path) => BlobName(path) is { Length: > 0 } name ? name + "/" : null;

    public async ValueTask<FileVersion?> FileAsync(string path, CancellationToken cancellationToken)
    {
        string blob = BlobName(path);
        if (!BlobNames.IsValidBlob(blob)) return null;
        BlobInfo? info;
        try
        {
            info = await metadata.GetAsync(spec.Container, blob, cancellationToken).ConfigureAwait(false);
        }
        catch (OriginException e) when (e.Status == 404)
        {
            return null; // the container is gone: to a file system that is a missing file (ENOENT), not an I/O error
        }
        return info is null ? null : new FileVersion(path, blob, info.ETag, info.Length, info.LastModified);
    }

    public async ValueTask<bool> DirectoryExistsAsync(string path, CancellationToken cancellationToken)
    {
        ListPage? page = await origin.ListAsync(spec.Container, DirectoryPrefix(path), "/", null, 1, cancellationToken).ConfigureAwait(false);
        return page is not null && (page.Items.Count > 0 || page.NextMarker is not null);
    }

    public async Task<IReadOnlyList<DirectoryEntry>> ListAsync(string path, CancellationToken cancellationToken)
    {
        string? prefix = DirectoryPrefix(path);
        int skip = prefix?.Length ?? 0;
        var entries = new List<DirectoryEntry>();
        string? marker = null;
        for (int pages = 0; pages < MaxListPages; pages++)
        {
            ListPage? page = await origin.ListAsync(spec.Container, prefix, "/", marker, null, cancellationToken).ConfigureAwait(false);
            if (page is null) break; // no container: an empty directory
            foreach (ListedBlob item in page.Items)
            {
                if (item.Name.Length <= skip) continue;
                // A prefix comes back as "dir/sub/": its name here is "sub".
                string name = item.IsPrefix ? item.Name[skip..^1] : item.Name[skip..];
                entries.Add(new DirectoryEntry(name, item.IsPrefix));
            }
            marker = page.NextMarker;
            if (marker is null) break;
        }
        return entries;
    }

    public ValueTask<ChunkBuffer> ReadChunkAsync(FileVersion file, long index, CancellationToken cancellationToken)
    {
        var id = new ChunkId(_account, spec.Container, file.SourceName, file.ETag, index);
        ValueTask<(ChunkBuffer Chunk, Telemetry.ReadSource Source)> reading = reader.GetAsync(id, file.Length, cancellationToken);
        return reading.IsCompletedSuccessfully ? new ValueTask<ChunkBuffer>(reading.Result.Chunk) : AwaitAsync(file, reading);
    }

    private async ValueTask<ChunkBuffer> AwaitAsync(FileVersion file, ValueTask<(ChunkBuffer Chunk, Telemetry.ReadSource Source)> reading)
    {
        try
        {
            return (await reading.ConfigureAwait(false)).Chunk;
        }
        catch (BlobChangedException)
        {
            // The open version is gone from Blob (and from every cache): its reader gets EIO; the next open gets the new one.
            metadata.Invalidate(spec.Container, file.SourceName);
            throw;
        }
    }

    public void ReadAhead(FileVersion file, long index)
    {
        long chunks = (file.Length + reader.ChunkSize - 1) / reader.ChunkSize;
        for (long next = index + 1; next <= index + reader.ReadAheadChunks && next < chunks; next++)
            reader.Prefetch(new ChunkId(_account, spec.Container, file.SourceName, file.ETag, next), file.Length);
    }
}
