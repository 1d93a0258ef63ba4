using System.Globalization;
using System.IO.Hashing;
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;

namespace BlobCache.Store;

/// <summary>
/// Two-tier chunk cache: pooled buffers in memory (S3-FIFO by bytes) over files on disk (S3-FIFO by bytes).
/// Every Put goes to memory at once and to disk in the background; a disk hit is verified and promoted to memory.
/// Locks guard only the policies: no disk IO or hashing happens under a lock.
/// </summary>
public sealed class ChunkStore : IDisposable
{
    // Writes still queued hold their buffers; past this many bytes (twice as many for chunks leaving memory, see
    // AddToMemory) a write is dropped instead of letting a slow disk pin unbounded memory.
    private const long MinPendingWriteBytes = 64L << 20;

    private readonly ILogger _logger;
    private readonly string? _root;
    private readonly long _maxPendingWriteBytes;

    private readonly Lock _memoryLock = new();
    private readonly S3Fifo<ChunkBuffer> _memory;
    private readonly Lock _diskLock = new();
    private readonly S3Fifo<string>? _disk;   // value: the file's path, made once per file

    // A dedicated thread, not a thread-pool task: readers busy on every pool thread must not starve disk writes.
    private readonly BlockingCollection<WriteJob>? _writes;
    private readonly Thread? _writer;
    private long _pendingWriteBytes;
    // Chunks queued for disk, readable until written: with a small (or no) memory tier a chunk just fetched must
    // not be a miss, and a second origin read, in the gap before its file exists. The write job holds the reference.
    private readonly ConcurrentDictionary<ChunkId, ChunkBuffer> _pendingWrites = new();
    // Chunks in memory whose disk write found the queue full: written when they leave memory (see Put).
    private readonly ConcurrentDictionary<ChunkId, byte> _unwritten = new();
    private volatile bool _disposed;

    private long _memoryHits, _diskHits, _misses, _memoryEvictions, _diskEvictions;
    private long _corruptFiles, _diskWriteErrors, _diskWritesDropped;

    // Eviction lists reused per thread, so evicting allocates nothing.
    [ThreadStatic] private static List<KeyValuePair<ChunkId, ChunkBuffer>>? t_evictedBuffers;
    [ThreadStatic] private static List<KeyValuePair<ChunkId, string>>? t_evictedFiles;

    private readonly record struct WriteJob(ChunkId Id, ChunkBuffer? Chunk, TaskCompletionSource? Flushed);

    public ChunkStore(ChunkStoreOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(options.MemoryBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(options.DiskBytes);
        _logger = logger ?? NullLogger.Instance;
        _memory = new S3Fifo<ChunkBuffer>(options.MemoryBytes);
        _maxPendingWriteBytes = Math.Max(MinPendingWriteBytes, options.MemoryBytes / 4);
        if (options.Directory is null || options.DiskBytes == 0)
            return;

        _root = Path.GetFullPath(options.Directory);
        _disk = new S3Fifo<string>(options.DiskBytes);
        Rebuild();
        _writes = new BlockingCollection<WriteJob>(new ConcurrentQueue<WriteJob>());
        _writer = new Thread(WriteLoop) { IsBackground = true, Name = "ChunkStore writer" };
        _writer.Start();
    }

    public ChunkStoreStats Stats
    {
        get
        {
            long memoryBytes, memoryChunks, diskBytes = 0, diskChunks = 0;
            lock (_memoryLock)
            {
                memoryBytes = _memory.Bytes;
                memoryChunks = _memory.Count;
            }
            if (_disk is not null)
            {
                lock (_diskLock)
                {
                    diskBytes = _disk.Bytes;
                    diskChunks = _disk.Count;
                }
            }
            return new ChunkStoreStats(
                memoryBytes, memoryChunks, diskBytes, diskChunks,
                Interlocked.Read(ref _memoryHits), Interlocked.Read(ref _diskHits), Interlocked.Read(ref _misses),
                Interlocked.Read(ref _memoryEvictions), Interlocked.Read(ref _diskEvictions),
                Interlocked.Read(ref _corruptFiles), Interlocked.Read(ref _diskWriteErrors),
                Interlocked.Read(ref _diskWritesDropped));
        }
    }

    public bool Contains(in ChunkId id)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_memoryLock)
        {
            if (_memory.Contains(id))
                return true;
        }
        if (_disk is null)
            return false;
        if (_pendingWrites.ContainsKey(id))
            return true;
        lock (_diskLock)
            return _disk.Contains(id);
    }

    /// <summary>
    /// Memory first, then disk. On true the caller holds one reference to <paramref name="chunk"/> and must
    /// <see cref="ChunkBuffer.Release"/> it. A disk file that fails any check is a miss, is deleted and is counted.
    /// With <paramref name="memoryOnly"/>, a chunk that would have to be read from disk is not read (and not counted
    /// as a miss): false with <paramref name="tier"/> = Disk, so a caller on an event-loop thread can move off it first.
    /// </summary>
    public bool TryGet(in ChunkId id, out ChunkBuffer? chunk, out ChunkTier tier, bool memoryOnly = false)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        tier = ChunkTier.Memory;
        lock (_memoryLock)
        {
            // The store's own reference keeps every buffer in the policy alive, so TryAddRef cannot fail here.
            if (_memory.TryGet(id, out ChunkBuffer found) && found.TryAddRef())
            {
                chunk = found;
                Interlocked.Increment(ref _memoryHits);
                return true;
            }
        }

        // TryAddRef fails only once the writer has released the buffer, i.e. the file is there now.
        if (_pendingWrites.TryGetValue(id, out ChunkBuffer? queued) && queued.TryAddRef())
        {
            chunk = queued;
            Interlocked.Increment(ref _memoryHits);
            return true;
        }

        chunk = null;
        string? path = null;
        if (_disk is not null)
        {
            lock (_diskLock)
            {
                if (!_disk.TryGet(id, out path))
                    path = null;
            }
        }
        if (path is null)
        {
            Interlocked.Increment(ref _misses);
            return false;
        }
        if (memoryOnly)
        {
            tier = ChunkTier.Disk;
            return false;
        }

        ReadResult result = ReadFile(id, path, out ChunkBuffer? read);
        if (result != ReadResult.Ok)
        {
            DropFile(id, path, corrupt: result == ReadResult.Corrupt);
            Interlocked.Increment(ref _misses);
            return false;
        }

        Interlocked.Increment(ref _diskHits);
        AddToMemory(id, read!);
        chunk = read;
        tier = ChunkTier.Disk;
        return true;
    }

    /// <summary>
    /// Counts <paramref name="reads"/> reads of a chunk that were served by the fetch that brought it in rather than by
    /// a lookup here. To the eviction policy they are reads like any other: a chunk that many readers wanted at once
    /// must not leave the memory tier as if it had been read once. Does nothing when the chunk is not in memory.
    /// </summary>
    public void Touch(in ChunkId id, int reads)
    {
        if (_disposed)
            return;   // a fetch that completes during shutdown
        lock (_memoryLock)
            _memory.Touch(id, reads);
    }

    /// <summary>
    /// Caches a sealed chunk. The store takes its own reference; the caller keeps (and later releases) its own.
    /// The disk copy is written in the background; disk errors are logged and counted, never thrown. When the write
    /// queue is full the chunk is written as it leaves memory instead: a burst of fills larger than the queue must not
    /// turn into a second Blob read of each chunk the memory tier evicts before its file exists.
    /// </summary>
    public void Put(in ChunkId id, ChunkBuffer chunk)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!chunk.IsSealed)
            throw new ArgumentException("Seal the chunk before Put: the checksum must be fixed first.", nameof(chunk));

        if (!NeedsWrite(id, chunk) || QueueWrite(id, chunk, _maxPendingWriteBytes))
        {
            AddToMemory(id, chunk);
            return;
        }
        // Marked before it enters memory, so an eviction at once still finds the mark.
        _unwritten.TryAdd(id, 0);
        if (!AddToMemory(id, chunk))
        {
            _unwritten.TryRemove(id, out _);
            Interlocked.Increment(ref _diskWritesDropped);
        }
    }

    private bool NeedsWrite(in ChunkId id, ChunkBuffer chunk)
    {
        if (_disk is null || _writes is null)
            return false;
        lock (_diskLock)
        {
            if (_disk.Contains(id))
                return false;
        }
        return ChunkFile.HeaderLength(id) + (long)chunk.Length <= _disk.Capacity;
    }

    // Queues the disk write (the job takes a reference of its own); false only when the queue holds more than
    // limit bytes.
    private bool QueueWrite(in ChunkId id, ChunkBuffer chunk, long limit)
    {
        if (Interlocked.Add(ref _pendingWriteBytes, chunk.Length) > limit)
        {
            Interlocked.Add(ref _pendingWriteBytes, -chunk.Length);
            return false;
        }
        if (!chunk.TryAddRef())
            throw new ObjectDisposedException(nameof(ChunkBuffer));
        if (!_pendingWrites.TryAdd(id, chunk))
        {
            // The same chunk is already queued (two fills raced): one write is enough.
            Interlocked.Add(ref _pendingWriteBytes, -chunk.Length);
            chunk.Release();
            return true;
        }
        if (!TryEnqueue(new WriteJob(id, chunk, null)))
        {
            _pendingWrites.TryRemove(new KeyValuePair<ChunkId, ChunkBuffer>(id, chunk));
            Interlocked.Add(ref _pendingWriteBytes, -chunk.Length);
            chunk.Release();   // disposing: the writer is gone
        }
        return true;
    }

    /// <summary>
    /// Drops a chunk from memory and from disk (its file is deleted): a caller found that what is stored under
    /// <paramref name="id"/> is not that chunk, and fetches it again. A reader holding it keeps its reference.
    /// </summary>
    public void Discard(in ChunkId id)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ChunkBuffer? inMemory;
        lock (_memoryLock)
        {
            if (!_memory.Remove(id, out inMemory))
                inMemory = null;
        }
        inMemory?.Release();
        if (_disk is null)
            return;
        string? path;
        lock (_diskLock)
        {
            if (!_disk.Remove(id, out path))
                path = null;
        }
        if (path is not null)
            TryDelete(path);
    }

    /// <summary>Completes when every disk write queued before the call has finished (or failed).</summary>
    public Task FlushAsync()
    {
        if (_writes is null)
            return Task.CompletedTask;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!TryEnqueue(new WriteJob(default, null, done)))
            return Task.CompletedTask;   // disposed: the writer has drained
        return done.Task;
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        if (_writes is not null)
        {
            _writes.CompleteAdding();
            // Queued writes finish first: a graceful shutdown keeps what it fetched.
            if (_writer!.Join(TimeSpan.FromSeconds(30)))
                _writes.Dispose();
            else
                _logger.LogError("Chunk store writer did not finish within 30 s");
        }
        var all = new List<KeyValuePair<ChunkId, ChunkBuffer>>();
        lock (_memoryLock)
        {
            _memory.CopyTo(all);
            _memory.Clear();
        }
        foreach (var (_, buffer) in all)
            buffer.Release();
    }

    // True when the chunk (this buffer or an earlier one of the same id) is in memory now.
    private bool AddToMemory(in ChunkId id, ChunkBuffer chunk)
    {
        List<KeyValuePair<ChunkId, ChunkBuffer>> evicted = t_evictedBuffers ??= [];
        lock (_memoryLock)
        {
            if (_memory.Contains(id))
                return true;
            if (chunk.Length > _memory.Capacity)
                return false;
            if (!chunk.TryAddRef())
                throw new ObjectDisposedException(nameof(ChunkBuffer));
            _memory.TryAdd(id, chunk, chunk.Length, evicted);
        }
        if (evicted.Count == 0)
            return true;
        Interlocked.Add(ref _memoryEvictions, evicted.Count);
        // Readers that still hold a reference keep their buffer; the array returns to the pool with the last one.
        foreach (var (evictedId, buffer) in evicted)
        {
            // A chunk whose write found the queue full goes to disk now, or is gone for good (and counted). It may
            // overdraw the queue up to twice its budget: a burst of fills larger than the queue is absorbed, and
            // only a disk slower than Blob for good (the queue full at both ends) costs second Blob reads.
            if (_unwritten.TryRemove(evictedId, out _) && !QueueWrite(evictedId, buffer, 2 * _maxPendingWriteBytes))
                Interlocked.Increment(ref _diskWritesDropped);
            buffer.Release();
        }
        evicted.Clear();
        return true;
    }

    private enum ReadResult { Ok, Missing, Corrupt }

    private ReadResult ReadFile(in ChunkId id, string path, out ChunkBuffer? chunk)
    {
        chunk = null;
        byte[]? rentedHeader = null;
        ChunkBuffer? buffer = null;
        try
        {
            using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
            long fileLength = RandomAccess.GetLength(handle);
            int headerLength = ChunkFile.HeaderLength(id);
            Span<byte> header = ChunkFile.HeaderSpan(headerLength, stackalloc byte[1024], out rentedHeader);
            if (!ChunkFile.ReadExactly(handle, header, 0)
                || !ChunkFile.CheckHeader(header, fileLength, out int dataLength, out ulong dataChecksum)
                || !SameId(header, id))
                return ReadResult.Corrupt;

            buffer = ChunkBuffer.Rent(dataLength);
            if (!ChunkFile.ReadExactly(handle, buffer.Writable, headerLength))
                return ReadResult.Corrupt;
            if (XxHash3.HashToUInt64(buffer.Span) != dataChecksum)
                return ReadResult.Corrupt;
            buffer.SealVerified(dataChecksum);
            chunk = buffer;
            buffer = null;
            return ReadResult.Ok;
        }
        catch (FileNotFoundException)
        {
            return ReadResult.Missing;   // evicted or replaced under us: not corruption
        }
        catch (DirectoryNotFoundException)
        {
            return ReadResult.Missing;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning(e, "Reading chunk file {Path} failed; treating it as corrupt", path);
            return ReadResult.Corrupt;
        }
        finally
        {
            buffer?.Release();
            if (rentedHeader is not null)
                System.Buffers.ArrayPool<byte>.Shared.Return(rentedHeader);
        }
    }

    // The header must name exactly this id: a hash collision or a misplaced file is not this chunk.
    private static bool SameId(ReadOnlySpan<byte> header, in ChunkId id)
    {
        ReadOnlySpan<byte> stored = header[ChunkFile.FixedBytes..^8];
        Span<byte> expected = ChunkFile.HeaderSpan(stored.Length, stackalloc byte[1024], out byte[]? rented);
        try
        {
            return id.WriteCanonical(expected) == stored.Length && expected.SequenceEqual(stored);
        }
        finally
        {
            if (rented is not null)
                System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private void DropFile(in ChunkId id, string path, bool corrupt)
    {
        bool ours;
        lock (_diskLock)
        {
            // Only if the index still points at this very file: another reader may have dropped it already, or the
            // writer may have evicted it and written a fresh copy since; that copy must survive.
            ours = _disk!.TryPeek(id, out string? current) && ReferenceEquals(current, path) && _disk.Remove(id, out _);
        }
        // A missing file (evicted under us) is just a miss; a bad one is deleted and counted once.
        if (!ours || !corrupt)
            return;
        TryDelete(path);
        Interlocked.Increment(ref _corruptFiles);
        _logger.LogWarning("Chunk file {Path} for {Chunk} failed verification; deleted", path, id);
    }

    private void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning(e, "Could not delete chunk file {Path}", path);
        }
    }

    private bool TryEnqueue(in WriteJob job)
    {
        try
        {
            return _writes!.TryAdd(job);
        }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException)
        {
            return false;   // the store is being disposed
        }
    }

    private void WriteLoop()
    {
        foreach (WriteJob job in _writes!.GetConsumingEnumerable())
        {
            if (job.Flushed is not null)
            {
                job.Flushed.TrySetResult();
                continue;
            }
            try
            {
                WriteFile(job.Id, job.Chunk!);
            }
            catch (Exception e)
            {
                // A bug must not kill the writer: count it with the IO errors and go on.
                Interlocked.Increment(ref _diskWriteErrors);
                _logger.LogError(e, "Writing chunk {Chunk} failed", job.Id);
            }
            finally
            {
                _pendingWrites.TryRemove(new KeyValuePair<ChunkId, ChunkBuffer>(job.Id, job.Chunk!));
                Interlocked.Add(ref _pendingWriteBytes, -job.Chunk!.Length);
                job.Chunk.Release();
            }
        }
    }

    // Runs only on the writer thread, the one thread that adds to the disk index, so room made here stays free.
    private void WriteFile(in ChunkId id, ChunkBuffer chunk)
    {
        int headerLength = ChunkFile.HeaderLength(id);
        long fileLength = headerLength + (long)chunk.Length;
        List<KeyValuePair<ChunkId, string>> evicted = t_evictedFiles ??= [];
        lock (_diskLock)
        {
            if (_disk!.Contains(id))
                return;
            _disk.MakeRoom(fileLength, evicted);
        }
        DeleteEvicted(evicted);

        string path = ChunkFile.PathFor(_root!, id.Hash);
        string temp = path + ChunkFile.TempExtension;
        byte[]? rentedHeader = null;
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            Span<byte> header = ChunkFile.HeaderSpan(headerLength, stackalloc byte[1024], out rentedHeader);
            ChunkFile.WriteHeader(header, id, chunk.Length, chunk.Checksum);
            // Write a temp file and rename it: a reader or a restart sees a whole file or none.
            using (SafeFileHandle handle = File.OpenHandle(temp, FileMode.Create, FileAccess.Write, FileShare.None, FileOptions.None, fileLength))
            {
                RandomAccess.Write(handle, header, 0);
                RandomAccess.Write(handle, chunk.Span, headerLength);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Interlocked.Increment(ref _diskWriteErrors);
            _logger.LogWarning(e, "Writing chunk {Chunk} to {Path} failed", id, path);
            TryDeleteQuietly(temp);
            return;
        }
        finally
        {
            if (rentedHeader is not null)
                System.Buffers.ArrayPool<byte>.Shared.Return(rentedHeader);
        }

        lock (_diskLock)
            _disk!.TryAdd(id, path, fileLength, evicted);
        DeleteEvicted(evicted);
    }

    private void DeleteEvicted(List<KeyValuePair<ChunkId, string>> evicted)
    {
        if (evicted.Count == 0)
            return;
        Interlocked.Add(ref _diskEvictions, evicted.Count);
        foreach (var (_, path) in evicted)
            TryDelete(path);
        evicted.Clear();
    }

    private static void TryDeleteQuietly(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The write already failed and was counted; a leftover temp file is removed at the next start.
        }
    }

    private readonly record struct Found(ChunkId Id, string Path, long Length, DateTime Written);

    /// <summary>
    /// Rebuilds the disk index from the files: every header is checked (the data is checked when read), bad files
    /// are deleted and counted, leftover temp files are deleted, and the oldest files go first if the capacity is
    /// now smaller than what is there. Files that do not have our naming pattern are left alone.
    /// </summary>
    private void Rebuild()
    {
        try
        {
            Directory.CreateDirectory(_root!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Keep going without the files: every write will fail, be logged and counted, and the memory tier works.
            _logger.LogError(e, "Chunk store directory {Directory} cannot be created", _root);
            return;
        }

        var found = new List<Found>();
        try
        {
            foreach (string level1 in Directory.EnumerateDirectories(_root!))
            {
                if (!IsHex(Path.GetFileName(level1.AsSpan()), 2))
                    continue;
                foreach (string level2 in Directory.EnumerateDirectories(level1))
                {
                    if (!IsHex(Path.GetFileName(level2.AsSpan()), 2))
                        continue;
                    foreach (string file in Directory.EnumerateFiles(level2))
                        Examine(file, found);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogError(e, "Scanning chunk store directory {Directory} failed; keeping what was found", _root);
        }

        found.Sort((a, b) => a.Written.CompareTo(b.Written));
        List<KeyValuePair<ChunkId, string>> evicted = t_evictedFiles ??= [];
        foreach (Found f in found)
        {
            // Files that survived a restart have proven themselves once: they start in main, oldest at the tail.
            lock (_diskLock)
                _disk!.TryAdd(f.Id, f.Path, f.Length, evicted, toMain: true);
            DeleteEvicted(evicted);
        }
        _logger.LogInformation("Chunk store {Directory}: {Chunks} chunks, {Bytes} bytes on disk, {Corrupt} bad files deleted",
            _root, _disk!.Count, _disk.Bytes, Interlocked.Read(ref _corruptFiles));
    }

    private void Examine(string file, List<Found> found)
    {
        ReadOnlySpan<char> name = Path.GetFileName(file.AsSpan());
        if (name.EndsWith(ChunkFile.TempExtension, StringComparison.Ordinal)
            && name.Length == 16 + ChunkFile.Extension.Length + ChunkFile.TempExtension.Length
            && IsHex(name[..16], 16))
        {
            TryDelete(file);   // a write the last process did not finish
            return;
        }
        if (name.Length != 16 + ChunkFile.Extension.Length || !name.EndsWith(ChunkFile.Extension, StringComparison.Ordinal)
            || !IsHex(name[..16], 16))
            return;   // not ours: never delete what we did not write

        if (TryReadHeader(file, out ChunkId id, out long length)
            && string.Equals(ChunkFile.PathFor(_root!, id.Hash), file, StringComparison.Ordinal))
        {
            found.Add(new Found(id, file, length, File.GetLastWriteTimeUtc(file)));
            return;
        }
        TryDelete(file);
        Interlocked.Increment(ref _corruptFiles);
        _logger.LogWarning("Chunk file {Path} is not a valid chunk; deleted", file);
    }

    private bool TryReadHeader(string file, out ChunkId id, out long length)
    {
        id = default;
        length = 0;
        byte[]? rented = null;
        try
        {
            using SafeFileHandle handle = File.OpenHandle(file, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
            length = RandomAccess.GetLength(handle);
            Span<byte> fixedPart = stackalloc byte[ChunkFile.FixedBytes];
            if (!ChunkFile.ReadExactly(handle, fixedPart, 0))
                return false;
            int headerLength = ChunkFile.PeekHeaderLength(fixedPart);
            if (headerLength < 0)
                return false;
            Span<byte> header = ChunkFile.HeaderSpan(headerLength, stackalloc byte[1024], out rented);
            return ChunkFile.ReadExactly(handle, header, 0)
                && ChunkFile.CheckHeader(header, length, out _, out _)
                && ChunkFile.TryDecodeId(header, out id);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning(e, "Reading chunk file {Path} failed", file);
            return false;
        }
        finally
        {
            if (rented is not null)
                System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static bool IsHex(ReadOnlySpan<char> s, int length)
    {
        if (s.Length != length)
            return false;
        foreach (char c in s)
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
                return false;
        }
        return true;
    }
}
