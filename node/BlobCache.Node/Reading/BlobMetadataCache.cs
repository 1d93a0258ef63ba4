using System.Collections.Concurrent;
using BlobCache.Mesh.Reading;
using BlobCache.Node.Origin;
using BlobCache.Node.Peers;

namespace BlobCache.Node.Reading;

/// <summary>Who wants a blob's properties, which decides where this node may look for them (<see cref="MetadataRoute"/>).</summary>
public enum MetadataAsker : byte
{
    /// <summary>A reader of this node: its deputy, the key's owners, then Blob.</summary>
    Reader,
    /// <summary>A peer that takes this node for its deputy: the key's owners, then Blob.</summary>
    Peer,
    /// <summary>A peer that takes this node for the key's owner: this node's cache, else Blob, never another peer.</summary>
    PeerDirect,
}

/// <summary>
/// A blob's properties, trusted for a short TTL (0 = ask the origin every time). Past the TTL this node asks the
/// blob's metadata owner in the region before Blob (<paramref name="peers"/>, <see cref="MetadataRoute"/>), so Blob
/// is asked about a blob about once per TTL per region, not once per node. Concurrent lookups of one blob share one
/// request. An answer is kept for what is left of the TTL since Blob gave it, wherever it came from: a reader sees
/// an overwritten blob at most one TTL late, and never mixed, as chunk keys carry the ETag and origin reads are
/// conditional on it.
/// </summary>
/// <remarks>
/// A blob looked up in the last fifth of its TTL is asked again in the background while the reader gets the
/// answer it has: a blob read steadily never makes a reader wait (the small-object reader's p99), and no answer
/// older than the TTL is ever given. A peer asking then waits for that refresh instead (<see cref="FreshForPeerAsync"/>).
/// After <see cref="Invalidate"/> (a reader or peer saw a newer version) the next
/// lookup asks Blob itself: the owner may still hold the version this node just found stale.
/// </remarks>
public sealed class BlobMetadataCache(IBlobOrigin origin, TimeSpan ttl, TimeProvider? time = null, IMetadataPeers? peers = null, Telemetry.MetadataMetrics? metrics = null)
{
    private const int MaxEntries = 100_000;
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly long _ttlTicks = (long)(ttl.TotalSeconds * (time ?? TimeProvider.System).TimestampFrequency);
    private readonly ConcurrentDictionary<(string Container, string Blob), Entry> _entries = new();
    private readonly ConcurrentDictionary<FlightKey, Lazy<Task<Entry>>> _flights = new();
    private readonly ConcurrentDictionary<(string Container, string Blob), byte> _askBlobNext = new();
    // Orders a finishing lookup's write against Invalidate, so an answer older than the invalidation is never kept.
    private readonly Lock _publish = new();

    /// <summary>Info null with <see cref="NoContainer"/> false: no such blob.</summary>
    private sealed record Entry(BlobInfo? Info, bool NoContainer, long Born, long RefreshFrom, long Expires);

    // A lookup that asks Blob itself is one flight whoever asked; one that asks peers is one per asker kind, so a
    // request can only wait on lookups that go fewer hops further (no two nodes can wait on each other).
    private readonly record struct FlightKey(string Container, string Blob, MetadataAsker Asker, bool ViaPeers);

    public TimeSpan Ttl => ttl;

    /// <summary>The blob's properties, null when it does not exist; throws <see cref="OriginException"/> 404 ContainerNotFound when its container does not.</summary>
    public async ValueTask<BlobInfo?> GetAsync(string container, string blob, CancellationToken cancellationToken)
    {
        Entry e = await GetEntryAsync(container, blob, MetadataAsker.Reader, cancellationToken).ConfigureAwait(false);
        return e.NoContainer ? throw NoContainer(container) : e.Info;
    }

    /// <summary>What this node answers a peer that asks about a blob, with how long ago Blob said it.</summary>
    public async ValueTask<PeerMetadata> AnswerPeerAsync(string container, string blob, bool direct, CancellationToken cancellationToken)
    {
        Entry e = await GetEntryAsync(container, blob, direct ? MetadataAsker.PeerDirect : MetadataAsker.Peer, cancellationToken).ConfigureAwait(false);
        var age = TimeSpan.FromSeconds(Math.Max(0, _time.GetTimestamp() - e.Born) / (double)_time.TimestampFrequency);
        PeerMetadataKind kind = e.NoContainer ? PeerMetadataKind.NoContainer : e.Info is null ? PeerMetadataKind.NoBlob : PeerMetadataKind.Found;
        return new PeerMetadata(kind, e.Info, age);
    }

    private async ValueTask<Entry> GetEntryAsync(string container, string blob, MetadataAsker asker, CancellationToken cancellationToken)
    {
        var key = (container, blob);
        if (ttl > TimeSpan.Zero && _entries.TryGetValue(key, out Entry? e))
        {
            long now = _time.GetTimestamp();
            if (now < e.Expires)
            {
                if (now < e.RefreshFrom) return e;
                if (asker == MetadataAsker.Reader)
                {
                    RefreshInBackground(container, blob, asker);
                    return e;
                }
                return await FreshForPeerAsync(container, blob, asker, e, cancellationToken).ConfigureAwait(false);
            }
        }
        return await Flight(container, blob, asker).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A peer asking in the last fifth of the TTL waits for the refresh: the answer it has would be the peer's for
    /// less than a fifth of the TTL, so every node behind this one would come back for it at once (a hot key's askers
    /// asking again on each lookup until the refresh reached them hop by hop). If the refresh fails, the answer still
    /// within its TTL.
    /// </summary>
    private async ValueTask<Entry> FreshForPeerAsync(string container, string blob, MetadataAsker asker, Entry cached, CancellationToken cancellationToken)
    {
        try
        {
            return await Flight(container, blob, asker).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return cached;
        }
    }

    /// <summary>Joins (or starts) the one lookup of a blob for this kind of asker.</summary>
    private Task<Entry> Flight(string container, string blob, MetadataAsker asker)
    {
        MetadataRoute route = default;
        bool viaPeers = peers is not null && ttl > TimeSpan.Zero && !_askBlobNext.ContainsKey((container, blob))
            && (route = peers.Plan(container, blob, asker)).PeersPlanned > 0;
        var key = new FlightKey(container, blob, viaPeers ? asker : MetadataAsker.PeerDirect, viaPeers);
        if (_flights.TryGetValue(key, out Lazy<Task<Entry>>? running)) return running.Value;
        Lazy<Task<Entry>>? mine = null;
        mine = new Lazy<Task<Entry>>(() => Fetch(key, route, mine!));
        // Only the stored Lazy is ever started, so a lookup cannot finish (and remove itself) before it is stored.
        return _flights.GetOrAdd(key, mine).Value;
    }

    // Every key a lookup of one blob can run under.
    private static ReadOnlySpan<MetadataAsker> PeerAskers => [MetadataAsker.Reader, MetadataAsker.Peer];

    private bool InFlight(string container, string blob)
    {
        if (_flights.ContainsKey(new FlightKey(container, blob, MetadataAsker.PeerDirect, false))) return true;
        foreach (MetadataAsker asker in PeerAskers)
        {
            if (_flights.ContainsKey(new FlightKey(container, blob, asker, true))) return true;
        }
        return false;
    }

    private void RefreshInBackground(string container, string blob, MetadataAsker asker)
    {
        if (InFlight(container, blob)) return;
        // A failed refresh leaves the entry to expire as usual; the next reader past the TTL asks (and sees the error).
        _ = Flight(container, blob, asker).ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
    }

    /// <summary>Forgets a blob (its ETag turned out stale), including an answer on its way; the next lookup asks Blob.</summary>
    public void Invalidate(string container, string blob)
    {
        lock (_publish)
        {
            _entries.TryRemove((container, blob), out _);
            _flights.TryRemove(new FlightKey(container, blob, MetadataAsker.PeerDirect, false), out _);
            foreach (MetadataAsker asker in PeerAskers) _flights.TryRemove(new FlightKey(container, blob, asker, true), out _);
            if (peers is not null) _askBlobNext[(container, blob)] = 0;
        }
    }

    private async Task<Entry> Fetch(FlightKey key, MetadataRoute route, Lazy<Task<Entry>> self)
    {
        Entry entry;
        try
        {
            PeerMetadata? answer = key.ViaPeers ? await peers!.AskAsync(key.Container, key.Blob, route, ttl).ConfigureAwait(false) : null;
            long now = _time.GetTimestamp();
            if (answer is { } a)
            {
                entry = EntryOf(a.Kind == PeerMetadataKind.Found ? a.Info : null, a.Kind == PeerMetadataKind.NoContainer,
                    now - (long)(a.Age.TotalSeconds * _time.TimestampFrequency), now);
            }
            else
            {
                _askBlobNext.TryRemove((key.Container, key.Blob), out _);
                entry = await FromOriginAsync(key).ConfigureAwait(false);
            }
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
                _entries[(key.Container, key.Blob)] = entry;
            }
        }
        return entry;
    }

    private async Task<Entry> FromOriginAsync(FlightKey key)
    {
        try
        {
            metrics?.AnsweredByBlob();
            BlobInfo? info = await origin.GetBlobAsync(key.Container, key.Blob, CancellationToken.None).ConfigureAwait(false);
            long now = _time.GetTimestamp();
            return EntryOf(info, noContainer: false, now, now);
        }
        catch (OriginException e) when (e.Status == 404 && e.Code == "ContainerNotFound")
        {
            // Kept like any answer: a missing container asked about by every node is a request per node otherwise.
            long now = _time.GetTimestamp();
            return EntryOf(null, noContainer: true, now, now);
        }
    }

    /// <summary>
    /// An answer Blob gave at <paramref name="born"/>, kept until one TTL after. A peer's answer may come already in
    /// its last fifth (the peer is refreshing it and answers with what it has until then): it is asked again halfway
    /// to its expiry, not at once, or every lookup until the peer's refresh lands would ask the peer again.
    /// </summary>
    private Entry EntryOf(BlobInfo? info, bool noContainer, long born, long now)
    {
        long expires = born + _ttlTicks;
        return new(info, noContainer, born, Math.Max(born + _ttlTicks * 4 / 5, now + (expires - now) / 2), expires);
    }

    private static OriginException NoContainer(string container) => new(404, "ContainerNotFound", $"container '{container}' does not exist");
}

/// <summary>
/// Where a <see cref="BlobMetadataCache"/> asks peers: plans the route of a lookup from the current membership view
/// and carries it out over the peer transport. The node's is <see cref="MeshMetadataPeers"/>.
/// </summary>
public interface IMetadataPeers
{
    MetadataRoute Plan(string container, string blob, MetadataAsker asker);

    /// <summary>
    /// The first answer a peer of <paramref name="route"/> gives that is younger than <paramref name="ttl"/>; null
    /// when none did (this node then asks Blob). Never throws for a peer's failure.
    /// </summary>
    Task<PeerMetadata?> AskAsync(string container, string blob, MetadataRoute route, TimeSpan ttl);
}
