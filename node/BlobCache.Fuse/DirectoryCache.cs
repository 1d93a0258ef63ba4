using System.Collections.Concurrent;
using System.Diagnostics;

namespace BlobCache.Fuse;

/// <summary>One directory's names as listed, each once (a name that is both a file and a prefix is the file).</summary>
internal sealed class Listing
{
    private readonly Dictionary<string, bool> _isDirectory;

    public Listing(IReadOnlyList<DirectoryEntry> listed)
    {
        _isDirectory = new Dictionary<string, bool>(listed.Count, StringComparer.Ordinal);
        var entries = new List<DirectoryEntry>(listed.Count);
        foreach (DirectoryEntry e in listed)
        {
            if (!IsNameWeCanShow(e.Name)) continue;
            if (_isDirectory.TryGetValue(e.Name, out bool wasDirectory))
            {
                if (wasDirectory && !e.IsDirectory)
                {
                    _isDirectory[e.Name] = false;
                    entries[entries.FindIndex(x => x.Name == e.Name)] = e;
                }
                continue;
            }
            _isDirectory[e.Name] = e.IsDirectory;
            entries.Add(e);
        }
        Entries = entries;
    }

    public IReadOnlyList<DirectoryEntry> Entries { get; }

    /// <summary>Null when the name is not in the directory.</summary>
    public bool? IsDirectory(string name) => _isDirectory.TryGetValue(name, out bool d) ? d : null;

    // A blob name with an empty segment ("a//b", "a/") or a segment the kernel reserves cannot be a path here;
    // NAME_MAX (255 bytes) is the longest name the kernel looks up.
    internal static bool IsNameWeCanShow(string name) =>
        name.Length > 0 && name != "." && name != ".." && !name.Contains('/', StringComparison.Ordinal) && !name.Contains('\0', StringComparison.Ordinal)
        && System.Text.Encoding.UTF8.GetByteCount(name) <= 255;
}

/// <summary>
/// Directory listings and "is there a directory here" answers, each trusted for the metadata TTL; concurrent asks
/// for one directory share one listing.
/// </summary>
internal sealed class DirectoryCache(IMountSource source, TimeSpan ttl)
{
    private const int MaxEntries = 100_000;
    private readonly ConcurrentDictionary<string, (Listing Listing, long Expires)> _listings = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<Task<Listing>>> _flights = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (bool Exists, long Expires)> _exists = new(StringComparer.Ordinal);

    /// <summary>The listing of <paramref name="path"/> if one younger than the TTL is held.</summary>
    public Listing? Fresh(string path) =>
        _listings.TryGetValue(path, out var held) && Stopwatch.GetTimestamp() < held.Expires ? held.Listing : null;

    public Task<Listing> ListAsync(string path, CancellationToken cancellationToken)
    {
        Listing? fresh = Fresh(path);
        if (fresh is not null) return Task.FromResult(fresh);
        Lazy<Task<Listing>>? mine = null;
        mine = new Lazy<Task<Listing>>(() => FetchAsync(path, mine!));
        return _flights.GetOrAdd(path, mine).Value.WaitAsync(cancellationToken);
    }

    public async ValueTask<bool> ExistsAsync(string path, CancellationToken cancellationToken)
    {
        if (Fresh(path) is { } listing) return listing.Entries.Count > 0;
        if (_exists.TryGetValue(path, out var held) && Stopwatch.GetTimestamp() < held.Expires) return held.Exists;
        bool exists = await source.DirectoryExistsAsync(path, cancellationToken).ConfigureAwait(false);
        Bound(_exists);
        _exists[path] = (exists, Expiry());
        return exists;
    }

    private async Task<Listing> FetchAsync(string path, Lazy<Task<Listing>> self)
    {
        try
        {
            await Task.Yield(); // never list inside the caller's GetOrAdd
            var listing = new Listing(await source.ListAsync(path, CancellationToken.None).ConfigureAwait(false));
            Bound(_listings);
            _listings[path] = (listing, Expiry());
            return listing;
        }
        finally
        {
            _flights.TryRemove(KeyValuePair.Create(path, self));
        }
    }

    private long Expiry() => Stopwatch.GetTimestamp() + (long)(ttl.TotalSeconds * Stopwatch.Frequency);

    // Bounded: a walk over millions of directories drops what it held rather than growing without end.
    private static void Bound<T>(ConcurrentDictionary<string, T> map)
    {
        if (map.Count >= MaxEntries) map.Clear();
    }
}
