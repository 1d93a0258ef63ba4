namespace BlobCache.Fuse;

/// <summary>
/// A directory (<see cref="File"/> null) or one version of a file. A file inode never changes: an overwritten blob
/// gets a new inode at its next lookup, so the kernel's attributes and page cache of the old one stay exact for
/// whoever still has it open.
/// </summary>
internal sealed class Inode(ulong ino, string path, FileVersion? file)
{
    public ulong Ino { get; } = ino;
    public string Path { get; } = path;
    public FileVersion? File { get; } = file;
    public bool IsDirectory => File is null;

    /// <summary>Lookups the kernel holds (each entry reply adds one; forget takes them back). Guarded by the table.</summary>
    internal ulong Lookups;
}

/// <summary>
/// Inode numbers for paths (and file versions): interned on lookup, dropped when the kernel forgets them. Numbers
/// are never reused within a mount. Inode 1 is the root and never goes.
/// </summary>
internal sealed class InodeTable
{
    public const ulong RootIno = 1;
    private readonly Dictionary<(string Path, string? ETag), Inode> _byKey = [];
    private readonly Dictionary<ulong, Inode> _byIno = [];
    private readonly Lock _lock = new();
    private ulong _next = RootIno + 1;

    public InodeTable()
    {
        Root = new Inode(RootIno, "", null);
        _byIno[RootIno] = Root;
    }

    public Inode Root { get; }

    /// <summary>Inodes held now (the root included).</summary>
    public int Count
    {
        get
        {
            lock (_lock) return _byIno.Count;
        }
    }

    public Inode? Get(ulong ino)
    {
        lock (_lock) return _byIno.GetValueOrDefault(ino);
    }

    /// <summary>The inode of a directory or file version, with one more lookup counted: call it when answering a lookup.</summary>
    public Inode Lookup(string path, FileVersion? file)
    {
        if (path.Length == 0 && file is null) return Root;
        lock (_lock)
        {
            var key = (path, file?.ETag);
            if (!_byKey.TryGetValue(key, out Inode? inode))
            {
                inode = new Inode(_next++, path, file);
                _byKey[key] = inode;
                _byIno[inode.Ino] = inode;
            }
            inode.Lookups++;
            return inode;
        }
    }

    /// <summary>The kernel dropped <paramref name="count"/> lookups of <paramref name="ino"/>; at none left the number goes.</summary>
    public void Forget(ulong ino, ulong count)
    {
        if (ino == RootIno) return;
        lock (_lock)
        {
            if (!_byIno.TryGetValue(ino, out Inode? inode)) return;
            inode.Lookups = count >= inode.Lookups ? 0 : inode.Lookups - count;
            if (inode.Lookups > 0) return;
            _byIno.Remove(ino);
            _byKey.Remove((inode.Path, inode.File?.ETag));
        }
    }
}
