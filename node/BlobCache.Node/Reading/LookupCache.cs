using System.Collections.Concurrent;
using BlobCache.Mesh.Reading;

namespace BlobCache.Node.Reading;

/// <summary>Who wants an answer, which decides where this node may look for it (<see cref="MetadataRoute"/>).</summary>
public enum MetadataAsker : byte
{
    /// <summary>A reader of this node: its deputy, the key's owners, then Blob.</summary>
    Reader,
    /// <summary>A peer that takes this node for its deputy: the key's owners, then Blob.</summary>
    Peer,
    /// <summary>A peer that takes this node for the key's owner: this node's cache, else Blob, never another peer.</summary>
    PeerDirect,
}

/// <summary>An answer a peer gave, and how long ago Blob gave it.</summary>
public readonly record struct AgedAnswer<TValue>(TValue Value, TimeSpan Age);

/// <summary>
/// Where a <see cref="LookupCache{TKey, TValue}"/> gets answers past its entries: Blob, and the peers a
/// <see cref="MetadataRoute"/> names (null when the node does not ask peers).
/// </summary>
public interface ILookupSource<TKey, TValue>
{
    /// <summary>Blob's answer; throws <see cref="Origin.OriginException"/> when Blob refused or failed.</summary>
    Task<TValue> FromOriginAsync(TKey key);

    /// <summary>The key's place on the rendezvous ring, which decides its owner.</summary>
    ulong RouteKey(TKey key);

    /// <summary>
    /// One peer's answer; throws <see cref="Peers.PeerTransferException"/> when it failed or refused, or on <paramref name="cancellationToken"/>.
    /// <paramref name="withContent"/>: the asker will read the resource's bytes next, which the source may ask the peer for too (and keep).
    /// </summary>
    Task<AgedAnswer<TValue>> FromPeerAsync(Protocol.Gossip.MemberMeta peer, TKey key, bool direct, bool withContent, TimeSpan timeout, CancellationToken cancellationToken);
}

/// <summary>
/// Answers about Blob's resources (a blob's properties, a listing page) trusted for a short TTL (0 = ask Blob every
/// time). Past the TTL this node asks the key's owner in the region before Blob (<paramref name="router"/>, which
/// plans a <see cref="MetadataRoute"/> from the membership view), so Blob is asked about a key about once per TTL
/// per region, not once per node. Concurrent lookups of one key share one request. An answer is kept for what is
/// left of the TTL since Blob gave it, wherever it came from, so no answer is ever older than one TTL.
/// </summary>
/// <remarks>
/// A key looked up in the last fifth of its TTL is asked again in the background while the reader gets the answer it
/// has: a key read steadily never makes a reader wait. A peer asking then waits for the refresh instead (see
/// <see cref="FreshForPeerAsync"/>). After <see cref="Invalidate"/> (a reader saw a newer version)
/// the next lookup asks Blob itself: the owner may still hold the version this node just found stale.
/// </remarks>
/// <param name="weigh">What an answer costs to keep (bytes, or 1 for a small one): the entries kept weigh at most <paramref name="maxWeight"/>.</param>
public sealed class LookupCache<TKey, TValue>(ILookupSource<TKey, TValue> source, TimeSpan ttl, TimeProvider? time, MetadataRouter? router, Telemetry.MetadataMetrics? metrics,
    Func<TValue, long> weigh, long maxWeight)
    where TKey : notnull, IEquatable<TKey>
{
    private long _weight; // of the entries kept; changed only under _publish
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly long _ttlTicks = (long)(ttl.TotalSeconds * (time ?? TimeProvider.System).TimestampFrequency);
    private readonly ConcurrentDictionary<TKey, Entry> _entries = new();
    private readonly ConcurrentDictionary<FlightKey, Lazy<Task<Entry>>> _flights = new();
    private readonly ConcurrentDictionary<TKey, byte> _askBlobNext = new();
    // Orders a finishing lookup's write against Invalidate, so an answer older than the invalidation is never kept.
    private readonly Lock _publish = new();

    private sealed record Entry(TValue Value, long Born, long RefreshFrom, long Expires);

    // A lookup that asks Blob itself is one flight whoever asked; one that asks peers is one per asker kind, so a
    // request can only wait on lookups that go fewer hops further (no two nodes can wait on each other).
    private readonly record struct FlightKey(TKey Key, MetadataAsker Asker, bool ViaPeers);

    private static ReadOnlySpan<MetadataAsker> PeerAskers => [MetadataAsker.Reader, MetadataAsker.Peer];

    public TimeSpan Ttl => ttl;

    /// <summary>
    /// The answer for <paramref name="asker"/>, and how long ago Blob gave it. <paramref name="withContent"/>: the asker
    /// reads the resource's bytes next, so a lookup this starts asks a peer for them too (a background refresh never does).
    /// </summary>
    public async ValueTask<AgedAnswer<TValue>> GetAsync(TKey key, MetadataAsker asker, CancellationToken cancellationToken, bool withContent = false)
    {
        if (ttl > TimeSpan.Zero && _entries.TryGetValue(key, out Entry? e))
        {
            long now = _time.GetTimestamp();
            if (now < e.Expires)
            {
                if (now < e.RefreshFrom) return Aged(e, now);
                if (asker != MetadataAsker.Reader) return await FreshForPeerAsync(key, asker, e, withContent, cancellationToken).ConfigureAwait(false);
                RefreshInBackground(key, asker, e);
                return Aged(e, now);
            }
        }
        Entry got = await Flight(key, asker, seen: null, withContent).WaitAsync(cancellationToken).ConfigureAwait(false);
        return Aged(got, _time.GetTimestamp());
    }

    /// <summary>
    /// A peer asking in the last fifth of the TTL waits for the refresh: the answer this node has would be the peer's
    /// for less than a fifth of the TTL, so every node behind it would come back at once, hop after hop, until the
    /// refresh reached them (a hot key's askers). If the refresh fails, the answer it had while that is still within
    /// its TTL; past it, the failure (an answer older than the TTL would only send the peer on to the next place, and
    /// that to Blob, the request this node just failed to get answered).
    /// </summary>
    private async ValueTask<AgedAnswer<TValue>> FreshForPeerAsync(TKey key, MetadataAsker asker, Entry cached, bool withContent, CancellationToken cancellationToken)
    {
        Entry e;
        try
        {
            e = await Flight(key, asker, seen: cached, withContent).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception failed) when (failed is not OperationCanceledException && _time.GetTimestamp() < cached.Expires)
        {
            e = cached;
        }
        return Aged(e, _time.GetTimestamp());
    }

    private AgedAnswer<TValue> Aged(Entry e, long now) => new(e.Value, TimeSpan.FromSeconds(Math.Max(0, now - e.Born) / (double)_time.TimestampFrequency));

    /// <summary>
    /// Joins (or starts) the one lookup of a key for this kind of asker, made because this node had <paramref name="seen"/>
    /// (null: nothing) for it. One that is joined asks for content as its starter did: a joiner that wanted content and
    /// gets none reads the bytes the usual way.
    /// </summary>
    private Task<Entry> Flight(TKey key, MetadataAsker asker, Entry? seen, bool withContent)
    {
        MetadataRoute route = default;
        bool viaPeers = router is not null && ttl > TimeSpan.Zero && !_askBlobNext.ContainsKey(key)
            && (route = router.Plan(source.RouteKey(key), asker)).PeersPlanned > 0;
        var flight = new FlightKey(key, viaPeers ? asker : MetadataAsker.PeerDirect, viaPeers);
        if (_flights.TryGetValue(flight, out Lazy<Task<Entry>>? running)) return running.Value;
        Lazy<Task<Entry>>? mine = null;
        mine = new Lazy<Task<Entry>>(() => Fetch(flight, route, mine!, seen, withContent));
        // Only the stored Lazy is ever started, so a lookup cannot finish (and remove itself) before it is stored.
        return _flights.GetOrAdd(flight, mine).Value;
    }

    private bool InFlight(TKey key)
    {
        if (_flights.ContainsKey(new FlightKey(key, MetadataAsker.PeerDirect, false))) return true;
        foreach (MetadataAsker asker in PeerAskers)
        {
            if (_flights.ContainsKey(new FlightKey(key, asker, true))) return true;
        }
        return false;
    }

    private void RefreshInBackground(TKey key, MetadataAsker asker, Entry seen)
    {
        if (InFlight(key)) return;
        // A failed refresh leaves the entry to expire as usual; the next reader past the TTL asks (and sees the error).
        _ = Flight(key, asker, seen, withContent: false).ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
    }

    /// <summary>Forgets a key, including an answer on its way; the next lookup asks Blob.</summary>
    public void Invalidate(TKey key)
    {
        lock (_publish)
        {
            if (_entries.TryRemove(key, out Entry? dropped)) _weight -= weigh(dropped.Value);
            _flights.TryRemove(new FlightKey(key, MetadataAsker.PeerDirect, false), out _);
            foreach (MetadataAsker asker in PeerAskers) _flights.TryRemove(new FlightKey(key, asker, true), out _);
            if (router is not null) _askBlobNext[key] = 0;
        }
    }

    private async Task<Entry> Fetch(FlightKey flight, MetadataRoute route, Lazy<Task<Entry>> self, Entry? seen, bool withContent)
    {
        if (NewerThan(flight.Key, seen) is { } newer)
        {
            _flights.TryRemove(KeyValuePair.Create(flight, self));
            return newer;
        }
        Entry entry;
        try
        {
            AgedAnswer<TValue>? answer = flight.ViaPeers ? await router!.AskAsync(source, flight.Key, route, ttl, withContent).ConfigureAwait(false) : null;
            long now = _time.GetTimestamp();
            if (answer is { } a)
            {
                entry = EntryOf(a.Value, now - (long)(a.Age.TotalSeconds * _time.TimestampFrequency), now);
            }
            else
            {
                _askBlobNext.TryRemove(flight.Key, out _);
                metrics?.AnsweredByBlob();
                TValue value = await source.FromOriginAsync(flight.Key).ConfigureAwait(false);
                long answered = _time.GetTimestamp();
                entry = EntryOf(value, answered, answered);
            }
        }
        catch
        {
            _flights.TryRemove(KeyValuePair.Create(flight, self));
            throw;
        }
        lock (_publish)
        {
            // Kept only while still the current lookup: one that an Invalidate dropped answers its waiters, no one else.
            if (_flights.TryRemove(KeyValuePair.Create(flight, self)) && ttl > TimeSpan.Zero)
            {
                long weight = weigh(entry.Value);
                if (_entries.TryRemove(flight.Key, out Entry? replaced)) _weight -= weigh(replaced.Value);
                if (_weight + weight > maxWeight)
                {
                    // Bounded; a burst of misses is cheaper than unbounded growth.
                    _entries.Clear();
                    _weight = 0;
                }
                if (weight <= maxWeight)
                {
                    _entries[flight.Key] = entry;
                    _weight += weight;
                }
            }
        }
        return entry;
    }

    /// <summary>
    /// The answer another lookup kept after this one's caller read <paramref name="seen"/>, while it is fresh. A caller
    /// that read an old answer (or none), then was overtaken by the lookup that replaced it, finds no lookup in flight
    /// and would start another: a second request to Blob for the same TTL, which a hot key (thousands of lookups a
    /// second) makes a matter of scheduling luck. Read under the lock that publishes, so the replacing lookup either
    /// is still in flight (and was joined) or its answer is seen here.
    /// </summary>
    private Entry? NewerThan(TKey key, Entry? seen)
    {
        lock (_publish)
        {
            return _entries.TryGetValue(key, out Entry? current) && !ReferenceEquals(current, seen) && _time.GetTimestamp() < current.RefreshFrom
                ? current
                : null;
        }
    }

    /// <summary>
    /// An answer Blob gave at <paramref name="born"/>, kept until one TTL after. A peer's answer may come already in
    /// its last fifth (the peer is refreshing it and answers with what it has until then): it is asked again halfway
    /// to its expiry, not at once, or every lookup until the peer's refresh lands would ask the peer again.
    /// </summary>
    private Entry EntryOf(TValue value, long born, long now)
    {
        long expires = born + _ttlTicks;
        return new(value, born, Math.Max(born + _ttlTicks * 4 / 5, now + (expires - now) / 2), expires);
    }
}
