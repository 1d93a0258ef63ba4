using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using BlobCache.Fuse.Native;
using BlobCache.Store;
using Microsoft.Extensions.Logging;

namespace BlobCache.Fuse;

/// <summary>
/// A read-only file system over an <see cref="IMountSource"/>: files are blobs, directories come from listings,
/// bytes come from the node's chunks, replied straight from the chunk's memory. Each operation that must wait
/// (a lookup, a listing, a chunk not in memory) replies when its answer arrives, off the thread that received it,
/// so a slow read never holds up another. The kernel mounts it read-only, so writes, renames and deletes never
/// reach it (EROFS); a missing name is ENOENT; a failed read is EIO, logged.
/// </summary>
/// <remarks>
/// Caching in the kernel follows the metadata TTL: directories, attributes and missing names are trusted for the
/// TTL; a file's name is looked up again at every open (against the node's metadata cache, itself trusted for the
/// TTL), so an overwrite shows at the next open within one TTL. Each file version has an inode of its own, whose
/// attributes and pages never change, so an open handle reads the version it opened, whole, and the kernel may
/// keep its pages across opens.
/// </remarks>
public sealed partial class ReadOnlyFileSystem
{
    private const byte DirentDirectory = 4, DirentFile = 8;
    private readonly IMountSource _source;
    private readonly InodeTable _inodes = new();
    private readonly DirectoryCache _directories;
    private readonly ConcurrentDictionary<ulong, OpenFile> _files = new();
    private readonly ConcurrentDictionary<ulong, Listing> _openDirectories = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly ILogger _log;
    private readonly string _name;
    private readonly double _ttl;
    private readonly DateTimeOffset _mountedAt = DateTimeOffset.UtcNow;
    private long _nextHandle;
    private int _pending;

    /// <param name="source">What the files are.</param>
    /// <param name="name">The mount's name in log lines.</param>
    /// <param name="ttl">How long the kernel may trust a directory, an attribute or a missing name.</param>
    public ReadOnlyFileSystem(IMountSource source, string name, TimeSpan ttl, ILogger log)
    {
        _source = source;
        _name = name;
        _ttl = ttl.TotalSeconds;
        _log = log;
        _directories = new DirectoryCache(source, ttl);
    }

    /// <summary>Replies still on their way (operations waiting for the node).</summary>
    internal int Pending => Volatile.Read(ref _pending);

    /// <summary>Kernel tuning asked for at FUSE_INIT; set by the session before mounting.</summary>
    internal uint ReadAheadBytes { get; set; } = 128 * 1024;

    /// <summary>Ends every operation still waiting (each replies EIO) and waits up to <paramref name="deadline"/> for their replies.</summary>
    internal bool Stop(TimeSpan deadline)
    {
        _stopping.Cancel();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (Pending > 0 && clock.Elapsed < deadline) Thread.Sleep(10);
        return Pending == 0;
    }

    private unsafe void Init(LibFuse.ConnInfo* conn)
    {
        // A file version's pages never change: no need to compare attributes before every cached read.
        conn->Want &= ~LibFuse.CapAutoInvalData;
        conn->Want |= conn->Capable & (LibFuse.CapAsyncRead | LibFuse.CapAsyncDio | LibFuse.CapParallelDirops);
        conn->MaxReadahead = Math.Min(conn->MaxReadahead, ReadAheadBytes);
        // Read-ahead and direct reads travel as background requests: enough in flight to cover a few chunks.
        conn->MaxBackground = 64;
        conn->CongestionThreshold = 48;
        _log.LogDebug("mount {Mount}: FUSE {Major}.{Minor}, max read-ahead {Ahead} KiB, max write {Write} KiB", _name,
            conn->ProtoMajor, conn->ProtoMinor, conn->MaxReadahead >> 10, conn->MaxWrite >> 10);
        Initialized.Set();
    }

    /// <summary>Set once the kernel's FUSE_INIT has been answered.</summary>
    internal ManualResetEventSlim Initialized { get; } = new();

    private void Lookup(nint req, ulong parent, string name)
    {
        Inode? directory = _inodes.Get(parent);
        if (directory is null)
        {
            LibFuse.fuse_reply_err(req, Libc.ENOENT);
            return;
        }
        if (!directory.IsDirectory)
        {
            LibFuse.fuse_reply_err(req, Libc.ENOTDIR);
            return;
        }
        string path = directory.Path.Length == 0 ? name : directory.Path + "/" + name;
        if (!Listing.IsNameWeCanShow(name))
        {
            ReplyEntry(req, path, found: false, null);
            return;
        }
        ValueTask<(bool Found, FileVersion? File)> resolving = ResolveAsync(directory.Path, name, path, _stopping.Token);
        if (resolving.IsCompletedSuccessfully)
        {
            (bool found, FileVersion? file) = resolving.Result;
            ReplyEntry(req, path, found, file);
            return;
        }
        Begin();
        _ = LookupAsync(req, path, resolving);
    }

    private async Task LookupAsync(nint req, string path, ValueTask<(bool Found, FileVersion? File)> resolving)
    {
        try
        {
            (bool found, FileVersion? file) = await resolving.ConfigureAwait(false);
            ReplyEntry(req, path, found, file);
        }
        catch (Exception e)
        {
            Fail(req, "look up", path, e);
        }
        finally
        {
            End();
        }
    }

    // A fresh listing of the parent answers at once (missing names above all: interpreters probe many); otherwise the
    // file's properties, then whether anything lies below the name.
    private async ValueTask<(bool Found, FileVersion? File)> ResolveAsync(string parentPath, string name, string path, CancellationToken ct)
    {
        Listing? listing = _directories.Fresh(parentPath);
        bool? listedAsDirectory = listing?.IsDirectory(name);
        if (listing is not null && listedAsDirectory is null) return (false, null);
        if (listedAsDirectory == true) return (true, null);
        FileVersion? file = await _source.FileAsync(path, ct).ConfigureAwait(false);
        if (file is not null) return (true, file);
        if (listing is not null) return (false, null); // listed as a file, gone since
        return (await _directories.ExistsAsync(path, ct).ConfigureAwait(false), null);
    }

    private unsafe void ReplyEntry(nint req, string path, bool found, FileVersion? file)
    {
        int size = LibFuse.EntryParamSize;
        byte* entry = stackalloc byte[size];
        new Span<byte>(entry, size).Clear();
        if (!found)
        {
            // A negative entry: the kernel answers ENOENT itself for the TTL.
            LibFuse.WriteEntryParam(entry, 0, 0, _ttl);
            LibFuse.fuse_reply_entry(req, entry);
            return;
        }
        Inode inode = _inodes.Lookup(path, file);
        WriteStat(entry + 16, inode);
        LibFuse.WriteEntryParam(entry, inode.Ino, _ttl, inode.IsDirectory ? _ttl : 0);
        // Not delivered (the caller was interrupted): the kernel never counted this lookup.
        if (LibFuse.fuse_reply_entry(req, entry) != 0) _inodes.Forget(inode.Ino, 1);
    }

    private unsafe void WriteStat(byte* stat, Inode inode)
    {
        if (inode.File is { } f) StatBuffer.Write(stat, inode.Ino, StatBuffer.FileMode, f.Length, f.LastModified);
        else StatBuffer.Write(stat, inode.Ino, StatBuffer.DirectoryMode, 0, _mountedAt);
    }

    private void Forget(ulong ino, ulong count) => _inodes.Forget(ino, count);

    private unsafe void GetAttr(nint req, ulong ino)
    {
        Inode? inode = _inodes.Get(ino);
        if (inode is null)
        {
            LibFuse.fuse_reply_err(req, Libc.ENOENT);
            return;
        }
        byte* stat = stackalloc byte[StatBuffer.Size];
        WriteStat(stat, inode);
        LibFuse.fuse_reply_attr(req, stat, _ttl);
    }

    private unsafe void Open(nint req, ulong ino, LibFuse.FileInfo* fi)
    {
        Inode? inode = _inodes.Get(ino);
        if (inode?.File is not { } file)
        {
            LibFuse.fuse_reply_err(req, inode is null ? Libc.ENOENT : Libc.EISDIR);
            return;
        }
        if ((fi->Flags & Libc.O_ACCMODE) != Libc.O_RDONLY)
        {
            LibFuse.fuse_reply_err(req, Libc.EROFS);
            return;
        }
        ulong handle = (ulong)Interlocked.Increment(ref _nextHandle);
        _files[handle] = new OpenFile(file, _source.ChunkSize);
        fi->Fh = handle;
        fi->Bits |= LibFuse.FileKeepCache; // this inode's bytes never change
        if (LibFuse.fuse_reply_open(req, fi) != 0) _files.TryRemove(handle, out _);
    }

    private unsafe void Read(nint req, ulong size, long offset, LibFuse.FileInfo* fi)
    {
        if (!_files.TryGetValue(fi->Fh, out OpenFile? open))
        {
            LibFuse.fuse_reply_err(req, Libc.EBADF);
            return;
        }
        FileVersion file = open.File;
        if (offset >= file.Length || size == 0)
        {
            LibFuse.fuse_reply_buf(req, null, 0);
            return;
        }
        long end = Math.Min(file.Length, offset + (long)Math.Min(size, int.MaxValue));
        int chunkSize = _source.ChunkSize;
        long first = offset / chunkSize, last = (end - 1) / chunkSize;
        if (open.ContinuesSequentially(offset, end, last)) _source.ReadAhead(file, last);
        if (first == last)
        {
            ValueTask<ChunkBuffer> reading = _source.ReadChunkAsync(file, first, _stopping.Token);
            if (reading.IsCompletedSuccessfully)
            {
                ChunkBuffer chunk = reading.Result;
                try
                {
                    ReplyBytes(req, chunk, (int)(offset - first * chunkSize), (int)(end - offset));
                }
                finally
                {
                    chunk.Release();
                }
                return;
            }
            Begin();
            _ = ReadOneAsync(req, file, reading, (int)(offset - first * chunkSize), (int)(end - offset));
            return;
        }
        Begin();
        _ = ReadSpanningAsync(req, file, offset, end);
    }

    private async Task ReadOneAsync(nint req, FileVersion file, ValueTask<ChunkBuffer> reading, int from, int count)
    {
        try
        {
            ChunkBuffer chunk = await reading.ConfigureAwait(false);
            try
            {
                ReplyBytes(req, chunk, from, count);
            }
            finally
            {
                chunk.Release();
            }
        }
        catch (Exception e)
        {
            Fail(req, "read", file.Path, e);
        }
        finally
        {
            End();
        }
    }

    // A read that crosses a chunk boundary: the chunks' pieces go out as one reply, each from its own memory.
    private async Task ReadSpanningAsync(nint req, FileVersion file, long offset, long end)
    {
        int chunkSize = _source.ChunkSize;
        long first = offset / chunkSize;
        int count = (int)((end - 1) / chunkSize - first + 1);
        ChunkBuffer[] chunks = ArrayPool<ChunkBuffer>.Shared.Rent(count);
        int held = 0;
        try
        {
            for (; held < count; held++) chunks[held] = await _source.ReadChunkAsync(file, first + held, _stopping.Token).ConfigureAwait(false);
            ReplyPieces(req, chunks, count, offset - first * chunkSize, end - offset);
        }
        catch (Exception e)
        {
            Fail(req, "read", file.Path, e);
        }
        finally
        {
            for (int i = 0; i < held; i++) chunks[i].Release();
            ArrayPool<ChunkBuffer>.Shared.Return(chunks, clearArray: true);
            End();
        }
    }

    private unsafe static void ReplyBytes(nint req, ChunkBuffer chunk, int from, int count)
    {
        fixed (byte* bytes = chunk.Span) LibFuse.fuse_reply_buf(req, bytes + from, (nuint)count);
    }

    private unsafe static void ReplyPieces(nint req, ChunkBuffer[] chunks, int count, long from, long length)
    {
        LibFuse.IoVec* iov = stackalloc LibFuse.IoVec[count];
        var pins = new System.Buffers.MemoryHandle[count];
        try
        {
            for (int i = 0; i < count; i++)
            {
                ReadOnlyMemory<byte> piece = chunks[i].Memory;
                int start = i == 0 ? (int)from : 0;
                int take = (int)Math.Min(piece.Length - start, length);
                pins[i] = piece.Slice(start, take).Pin();
                iov[i] = new LibFuse.IoVec { Base = (byte*)pins[i].Pointer, Length = (nuint)take };
                length -= take;
            }
            LibFuse.fuse_reply_iov(req, iov, count);
        }
        finally
        {
            foreach (System.Buffers.MemoryHandle pin in pins) pin.Dispose();
        }
    }

    private void Release(nint req, ulong handle)
    {
        _files.TryRemove(handle, out _);
        LibFuse.fuse_reply_err(req, 0);
    }

    private unsafe void OpenDirectory(nint req, ulong ino, LibFuse.FileInfo* fi)
    {
        Inode? inode = _inodes.Get(ino);
        if (inode is null || !inode.IsDirectory)
        {
            LibFuse.fuse_reply_err(req, inode is null ? Libc.ENOENT : Libc.ENOTDIR);
            return;
        }
        Task<Listing> listing = _directories.ListAsync(inode.Path, _stopping.Token);
        if (listing.IsCompletedSuccessfully)
        {
            ReplyOpenDirectory(req, *fi, listing.Result);
            return;
        }
        Begin();
        _ = OpenDirectoryAsync(req, inode.Path, *fi, listing);
    }

    private async Task OpenDirectoryAsync(nint req, string path, LibFuse.FileInfo fi, Task<Listing> listing)
    {
        try
        {
            ReplyOpenDirectory(req, fi, await listing.ConfigureAwait(false));
        }
        catch (Exception e)
        {
            Fail(req, "list", path.Length == 0 ? "/" : path, e);
        }
        finally
        {
            End();
        }
    }

    // The handle holds the listing it opened with: offsets into it stay valid however the directory changes.
    private unsafe void ReplyOpenDirectory(nint req, LibFuse.FileInfo fi, Listing listing)
    {
        ulong handle = (ulong)Interlocked.Increment(ref _nextHandle);
        _openDirectories[handle] = listing;
        fi.Fh = handle;
        if (LibFuse.fuse_reply_open(req, &fi) != 0) _openDirectories.TryRemove(handle, out _);
    }

    private unsafe void ReadDirectory(nint req, ulong ino, ulong size, long offset, ulong handle)
    {
        if (!_openDirectories.TryGetValue(handle, out Listing? listing))
        {
            LibFuse.fuse_reply_err(req, Libc.EBADF);
            return;
        }
        int capacity = (int)Math.Min(size, 1 << 20);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(capacity);
        try
        {
            int used = 0;
            IReadOnlyList<DirectoryEntry> entries = listing.Entries;
            for (long i = Math.Max(0, offset); i < entries.Count + 2; i++)
            {
                (string name, bool isDirectory, ulong entryIno) = i switch
                {
                    0 => (".", true, ino),
                    1 => ("..", true, InodeTable.RootIno),
                    _ => (entries[(int)(i - 2)].Name, entries[(int)(i - 2)].IsDirectory, 0UL),
                };
                int written = Dirent.Write(buffer.AsSpan(used, capacity - used), entryIno == 0 ? Dirent.InoOf(name) : entryIno, i + 1,
                    isDirectory ? DirentDirectory : DirentFile, name);
                if (written == 0) break;
                used += written;
            }
            fixed (byte* bytes = buffer) LibFuse.fuse_reply_buf(req, bytes, (nuint)used);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void ReleaseDirectory(nint req, ulong handle)
    {
        _openDirectories.TryRemove(handle, out _);
        LibFuse.fuse_reply_err(req, 0);
    }

    private void Fail(nint req, string what, string path, Exception e)
    {
        if (_stopping.IsCancellationRequested)
        {
            LibFuse.fuse_reply_err(req, Libc.EIO);
            return;
        }
        _log.LogWarning("mount {Mount}: {What} {Path} failed, the reader gets EIO: {Error}", _name, what, path, Describe(e));
        LibFuse.fuse_reply_err(req, Libc.EIO);
    }

    private static string Describe(Exception e) => e is AggregateException { InnerException: { } inner } ? inner.Message : e.Message;

    private void Begin() => Interlocked.Increment(ref _pending);

    private void End() => Interlocked.Decrement(ref _pending);

    private unsafe static string NameOf(byte* name) => Encoding.UTF8.GetString(System.Runtime.InteropServices.MemoryMarshal.CreateReadOnlySpanFromNullTerminated(name));
}
