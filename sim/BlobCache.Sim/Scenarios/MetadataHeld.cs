using System.Runtime.InteropServices;

namespace BlobCache.Sim.Scenarios;

/// <summary>
/// The metadata entries one node holds (blobs' properties, listing pages), by key index. Sparse, because a node of a
/// fleet reading from a million blobs holds the few it read lately, not a slot for each: expired entries are dropped
/// whenever the table doubles, so it holds about the keys read within one TTL.
/// </summary>
internal sealed class MetadataHeld
{
    private readonly Dictionary<int, (long Until, long FetchedAt)> _entries = [];
    private int _pruneAt = 1024;

    public long Until(int key) => _entries.TryGetValue(key, out var e) ? e.Until : 0;

    public long FetchedAt(int key) => _entries.TryGetValue(key, out var e) ? e.FetchedAt : 0;

    public void Keep(int key, long fetchedAt, long until, long now)
    {
        if (_entries.Count >= _pruneAt) Prune(now);
        ref var entry = ref CollectionsMarshal.GetValueRefOrAddDefault(_entries, key, out _);
        if (until < entry.Until) return;
        entry = (until, fetchedAt);
    }

    private void Prune(long now)
    {
        foreach ((int key, var e) in _entries)
        {
            if (e.Until <= now) _entries.Remove(key);
        }
        _pruneAt = Math.Max(1024, _entries.Count * 2);
    }
}
