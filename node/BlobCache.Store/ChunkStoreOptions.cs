namespace BlobCache.Store;

public sealed record ChunkStoreOptions
{
    /// <summary>Memory tier capacity in bytes.</summary>
    public long MemoryBytes { get; init; } = 1L << 30;

    /// <summary>Disk tier capacity in bytes (file sizes, headers included); 0 = no disk tier.</summary>
    public long DiskBytes { get; init; } = 10L << 30;

    /// <summary>Disk tier directory; null = no disk tier.</summary>
    public string? Directory { get; init; }
}

public enum ChunkTier
{
    Memory,
    Disk,
}

/// <summary>A snapshot of the store's sizes and counters (counters since the store was opened).</summary>
public readonly record struct ChunkStoreStats(
    long MemoryBytes,
    long MemoryChunks,
    long DiskBytes,
    long DiskChunks,
    long MemoryHits,
    long DiskHits,
    long Misses,
    long MemoryEvictions,
    long DiskEvictions,
    long CorruptFiles,
    long DiskWriteErrors,
    long DiskWritesDropped);
