using System.Collections.Concurrent;
using BlobCache.Node.Origin;

namespace BlobCache.Node.Reading;

/// <summary>
/// A blob's ETag and length, trusted for a short TTL (0 = ask the origin every time). Concurrent lookups of one
/// blob share one origin request. An overwritten blob is seen at most one TTL late, and never mixed: chunk keys
/// carry the ETag, and origin reads are conditional on it.
/// </summary>
/// <remarks>
/// A blob looked up in the last fifth of its TTL is asked again in the background while the reader gets the
/// answer it has: a blob read steadily never makes a reader wait for the origin (the small-object reader's p99),
/// and no answer older than the TTL is ever given.
/// </remarks>
public sealed class BlobMetadataCache(IBlobOrigin origin, TimeSpan ttl, TimeProvider? time = null)
{
    private const int MaxEntries = 100_000;
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<(string Container, string Blob), Entry> _entries = new();
    private readonly ConcurrentDictionary<(string Container, string Blob), Lazy<Task<BlobInfo?>>> _flights = new();
    // Orders a finishing lookup's write against Invalidate, so an answer older than the invalidation is never kept.
    private readonly Lock _publish = new();

    private sealed record Entry(BlobInfo? Info, long RefreshFrom, long Expires);

    public async ValueTask<BlobInfo?> GetAsync(string container, string blob, CancellationToken cancellationToken)
    {
        var key = (container, blob);
        if (ttl > TimeSpan.Zero && _entries.TryGetValue(key, out Entry? e))
        {
            long now = _time.GetTimestamp();
            if (now < e.Expires)
            {
                if (now >= e.RefreshFrom && !_flights.ContainsKey(key)) RefreshInBackground(key);
                return e.Info;
            }
        }
        return await Flight(key).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Joins (or starts) the one origin lookup of a blob.</summary>
    private Task<BlobInfo?> Flight((string Container, string Blob) key)
    {
        Lazy<Task<BlobInfo?>>? mine = null;
        mine = new Lazy<Task<BlobInfo?>>(() => Fetch(key, mine!));
        // Only the stored Lazy is ever started, so a lookup cannot finish (and remove itself) before it is stored.
        return _flights.GetOrAdd(key, mine).Value;
    }

    private void RefreshInBackground((string Container, string Blob) key) =>
        // A failed refresh leaves the entry to expire as usual; the next reader past the TTL asks (and sees the error).
        _ = Flight(key).ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);

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
                long now = _time.GetTimestamp(), ttlTicks = (long)(ttl.TotalSeconds * _time.TimestampFrequency);
                _entries[key] = new Entry(info, now + ttlTicks * 4 / 5, now + ttlTicks);
            }
        }
        return info;
    }
}
