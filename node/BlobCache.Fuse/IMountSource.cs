using BlobCache.Store;

namespace BlobCache.Fuse;

/// <summary>One version of one file: what an open handle reads, whole, whatever is written to the blob meanwhile.</summary>
/// <param name="Path">Relative to the mount's root.</param>
/// <param name="SourceName">What the source calls it (the blob's name), so a read does not rebuild it.</param>
public sealed record FileVersion(string Path, string SourceName, string ETag, long Length, DateTimeOffset LastModified);

/// <summary>One name in a directory.</summary>
public readonly record struct DirectoryEntry(string Name, bool IsDirectory);

/// <summary>
/// What the mount reads: files, directories and chunks by path relative to the mount's root ('/'-separated, no
/// leading '/', "" for the root). The node implements it with its own read path; the file system never sees Blob.
/// </summary>
public interface IMountSource
{
    /// <summary>Bytes per chunk: reads are served from whole chunks.</summary>
    int ChunkSize { get; }

    /// <summary>The current version of the file at <paramref name="path"/>, or null when there is none.</summary>
    ValueTask<FileVersion?> FileAsync(string path, CancellationToken cancellationToken);

    /// <summary>Whether anything lies below <paramref name="path"/> (a directory exists only through what it holds).</summary>
    ValueTask<bool> DirectoryExistsAsync(string path, CancellationToken cancellationToken);

    /// <summary>The names directly below <paramref name="path"/>: files, then subdirectories, in the listing's order.</summary>
    Task<IReadOnlyList<DirectoryEntry>> ListAsync(string path, CancellationToken cancellationToken);

    /// <summary>Chunk <paramref name="index"/> of <paramref name="file"/>, with one reference the caller releases.</summary>
    ValueTask<ChunkBuffer> ReadChunkAsync(FileVersion file, long index, CancellationToken cancellationToken);

    /// <summary>A sequential reader has reached chunk <paramref name="index"/>: fetch the chunks after it.</summary>
    void ReadAhead(FileVersion file, long index);
}
