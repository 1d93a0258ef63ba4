using System.Collections.Concurrent;
using System.Diagnostics;
using BlobCache.Node.Origin;

namespace BlobCache.Node.Reading;

/// <summary>
/// A blob's ETag and length, trusted for a short TTL (0 = ask the origin every time). Concurrent lookups of one
/// blob share one origin request. An overwritten blob is seen at most one TTL late, and never mixed: chunk keys
/// carry the ETag, and origin reads are conditional on it.
/// </summary>
public sealed class BlobMetadataCache(IBlobOrigin origin, TimeSpan ttl)
{
    private const int MaxEntries = 100_000;
    private readonly ConcurrentDictionary<(string Container, string Blob), Entry> _entries = new();
    private readonly ConcurrentDictionary<(string Container, string Blob), Lazy<Task<BlobInfo?>>> _flights = new();
    // Orders a finishing lookup's write against Invalidate, so an answer older than the invalidation is never kept.
    private readonly Lock _publish = new();

    private sealed record Entry(BlobInfo? Info, long Expires);

    public async ValueTask<BlobInfo?> GetAsync(string container, string blob, CancellationToken cancellationToken)
    {
        var key = (container, blob);
        if (ttl > TimeSpan.Zero && _entries.TryGetValue(key, out Entry? e) && Stopwatch.GetTimestamp() < e.Expires) return e.Info;
        Lazy<Task<BlobInfo?>>? mine = null;
        mine = new Lazy<Task<BlobInfo?>>(() => Fetch(key, mine!));
        // Only the stored Lazy is ever started, so a lookup cannot finish (and remove itself) before it is stored.
        Lazy<Task<BlobInfo?>> flight = _flights.GetOrAdd(key, mine);
        return await flight.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Forgets a blob (its ETag turned out stale), including an answer on its way from the origin.</summary>
    public void Invalidate(string container, string blob)
    {
        lock (_publish)
        {
            _entries.TryRemove((container, blob), out _);
            _flights.TryRemove((container, blob), out _);
        }
    }

    private async Task<BlobInfo?> Fetch((string Container, string Blob) key, Lazy<Task<BlobInfo?>> self)
    {
        BlobInfo? info;
        try
        {
            info = await origin.GetBlobAsync(key.Container, key.Blob, CancellationToken.None).ConfigureAwait(false);
        }
        catch
        {
            _flights.TryRemove(KeyValuePair.Create(key, self));
            throw;
        }
        lock (_publish)
        {
            // Kept only while still the current lookup: one that an Invalidate dropped answers its waiters, no one else.
            if (_flights.TryRemove(KeyValuePair.Create(key, self)) && ttl > TimeSpan.Zero)
            {
                if (_entries.Count >= MaxEntries) _entries.Clear(); // bounded; a burst of misses is cheaper than unbounded growth
                _entries[key] = new Entry(info, Stopwatch.GetTimestamp() + (long)(ttl.TotalSeconds * Stopwatch.Frequency));
            }
        }
        return info;
    }
}
