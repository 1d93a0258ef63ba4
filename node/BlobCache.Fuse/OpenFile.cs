namespace BlobCache.Fuse;

/// <summary>One open handle of a file: the version it reads, and where its reader is, to read ahead for a sequential one.</summary>
internal sealed class OpenFile(FileVersion file, int chunkSize)
{
    private long _nextOffset;
    private long _readAheadFrom = -1;

    public FileVersion File { get; } = file;

    /// <summary>
    /// Notes a read of [<paramref name="offset"/>, <paramref name="end"/>) ending in chunk <paramref name="lastChunk"/>;
    /// true when it continues the reader's last read (the kernel sends a sequential reader's pieces a few at a time,
    /// not always in order) and reaches a chunk the node has not yet been asked to read ahead of.
    /// </summary>
    public bool ContinuesSequentially(long offset, long end, long lastChunk)
    {
        long expected = Interlocked.Exchange(ref _nextOffset, end);
        bool sequential = offset == 0 || Math.Abs(offset - expected) <= 2L * chunkSize;
        if (!sequential) return false;
        long from = Volatile.Read(ref _readAheadFrom);
        return lastChunk > from && Interlocked.CompareExchange(ref _readAheadFrom, lastChunk, from) == from;
    }
}
