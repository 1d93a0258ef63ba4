using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using BlobCache.Mesh;
using BlobCache.Mesh.Placement;
using BlobCache.Mesh.Reading;
using BlobCache.Node.Config;
using BlobCache.Node.Gossip;
using BlobCache.Node.Origin;
using BlobCache.Node.Peers;
using BlobCache.Node.Telemetry;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Reading;

/// <summary>
/// The read path of one chunk: memory → disk → owner(s) in this region (and the holders a busy owner names) → owner
/// in a pooled region → Blob, past this node's tiers as <see cref="ChunkRoute"/> decides.
/// Concurrent reads of one chunk share one fetch (single-flight) here and on the owner, so N readers cost one Blob
/// GET per region. A dead or slow peer costs one bounded timeout, then the next place; a read never fails because
/// a peer did. Every chunk handed out carries one reference the caller must release.
/// </summary>
public sealed class ChunkReader : IDisposable
{
    private readonly NodeOptions _options;
    private readonly ChunkStore _store;
    private readonly IBlobOrigin _origin;
    private readonly IMeshView _mesh;
    private readonly IChunkPeerClient _peers;
    private readonly NodeMetrics _metrics;
    private readonly ILogger _logger;
    private readonly ReadRouting _routing;
    private readonly ConcurrentDictionary<ChunkId, Flight> _reads = new();
    private readonly ConcurrentDictionary<ChunkId, Flight> _originFills = new();
    // Read-ahead fetches in flight at once over all readers: room for a few sequential readers' windows, and a bound on
    // what readers that stop early can have made the node fetch for nothing.
    private readonly SemaphoreSlim _prefetchSlots = new(16, 16);
    private readonly PrefetchedChunks _prefetched = new();
    private readonly CancellationTokenSource _shutdown = new();

    // Stored: already handed to the store by an inner flight (a read that fell through to the shared origin fill).
    private readonly record struct Filled(ChunkBuffer Chunk, ReadSource Source, bool Stored = false);

    public ChunkReader(NodeOptions options, ChunkStore store, IBlobOrigin origin, IMeshView mesh, IChunkPeerClient peers, NodeMetrics metrics, ILogger logger)
    {
        _options = options;
        _store = store;
        _origin = origin;
        _mesh = mesh;
        _peers = peers;
        _metrics = metrics;
        _logger = logger;
        _routing = RoutingOf(options);
    }

    /// <summary>How this node looks for a chunk past its own tiers, from its options (the simulator makes one from its workload).</summary>
    public static ReadRouting RoutingOf(NodeOptions options)
    {
        var routing = new ReadRouting
        {
            OwnersToTry = options.OwnersToTry, BusyRetries = options.PeerBusyRetries, AnswerTimeoutMicros = options.PeerTimeoutMs * Micros.PerMillisecond,
            PeerDeadlineMicros = options.PeerTransferTimeoutMs * Micros.PerMillisecond,
        };
        routing.Validate();
        return routing;
    }

    public int ChunkSize => _options.ChunkSize;

    public ChunkStore Store => _store;

    public int ReadAheadChunks => _options.ReadAheadChunks;

    /// <summary>The rendezvous key chunk <paramref name="id"/> is placed by: a one-chunk blob's lives with its properties (<see cref="OneChunkBlob"/>).</summary>
    public ulong PlacementKey(in ChunkId id, long blobLength) =>
        OneChunkBlob.PlacementKey(id.Hash, StableHash.BlobKey(id.Container, id.Blob), blobLength, ChunkSize);

    /// <summary>
    /// Keeps a chunk that came with its blob's properties from the metadata owner (checked by the transport, as any
    /// received chunk): the reader that then finds it is counted as reading it from a peer. The caller keeps its reference.
    /// </summary>
    public void KeepFromPeer(in ChunkId id, ChunkBuffer chunk)
    {
        if (_store.Contains(id)) return;
        // Held for the reader too, as a chunk read ahead is: the memory tier may let it go before that reader comes.
        if (chunk.TryAddRef()) _prefetched.Remember(id, ReadSource.Peer, chunk);
        _store.Put(id, chunk);
    }

    /// <summary>Length of chunk <paramref name="index"/> of a blob of <paramref name="blobLength"/> bytes.</summary>
    public long ChunkLength(long blobLength, long index) => Math.Min(ChunkSize, blobLength - index * ChunkSize);

    /// <summary>The chunk for a local reader, from wherever it is nearest.</summary>
    public ValueTask<(ChunkBuffer Chunk, ReadSource Source)> GetAsync(ChunkId id, long blobLength, CancellationToken cancellationToken) =>
        GetAsync(id, blobLength, countRead: true, cancellationToken);

    // Read-ahead does not count as a read: the reader's own read of the chunk later does.
    private async ValueTask<(ChunkBuffer Chunk, ReadSource Source)> GetAsync(ChunkId id, long blobLength, bool countRead, CancellationToken cancellationToken)
    {
        for (int attempt = 0; attempt < 4; attempt++)
        {
            // The first reader of a chunk read ahead takes the read-ahead's reference (which outlives the memory tier's
            // eviction of the chunk) and is counted where the read-ahead got it.
            if (countRead && _prefetched.TryTake(id, out ReadSource aheadFrom, out ChunkBuffer kept))
            {
                if (kept.Length == ChunkLength(blobLength, id.Index))
                {
                    _metrics.ChunkRead(aheadFrom);
                    return (kept, aheadFrom);
                }
                kept.Release();
            }
            bool found = TryGetStored(id, blobLength, out ChunkBuffer? hit, out ChunkTier tier, memoryOnly: true);
            if (!found && tier == ChunkTier.Disk)
            {
                // A disk read blocks: never on an event-loop thread of the endpoint (it would hold up every connection
                // of that loop), so move to the thread pool first. A memory hit stays where it is.
                await Task.Yield();
                found = TryGetStored(id, blobLength, out hit, out tier);
            }
            if (found)
            {
                ReadSource source = tier == ChunkTier.Memory ? ReadSource.Memory : ReadSource.Disk;
                if (countRead) _metrics.ChunkRead(source);
                return (hit!, source);
            }
            Filled? f = await JoinAsync(_reads, id, () => FetchAsync(id, blobLength), cancellationToken, counted: countRead).ConfigureAwait(false);
            if (f is { } got)
            {
                if (!countRead) return (got.Chunk, got.Source);
                // This reader joined a read-ahead's flight and is counted here: the reference the flight kept for it goes.
                if (_prefetched.TryTake(id, out _, out ChunkBuffer held)) held.Release();
                _metrics.ChunkRead(got.Source);
                return (got.Chunk, got.Source);
            }
            // The shared result was already released (evicted between fill and our turn): look again.
        }
        throw new InvalidOperationException($"chunk {id} could not be held after four attempts");
    }

    /// <summary>
    /// Serves a peer: from the store, or (when <paramref name="fill"/>) from Blob through the same single-flight as
    /// this node's own reads. Never forwards to another peer, so disagreeing views cannot make a loop. Null when
    /// the chunk is not here and <paramref name="fill"/> is false. <paramref name="blobLength"/> must be this node's
    /// own figure (its metadata's), never the requester's: it decides how much is filled and kept.
    /// </summary>
    public async ValueTask<(ChunkBuffer Chunk, ReadSource Source)?> ServePeerAsync(ChunkId id, long blobLength, bool fill, CancellationToken cancellationToken)
    {
        for (int attempt = 0; attempt < 4; attempt++)
        {
            if (TryGetStored(id, blobLength, out ChunkBuffer? hit, out ChunkTier tier)) return (hit!, tier == ChunkTier.Memory ? ReadSource.Memory : ReadSource.Disk);
            if (!fill) return null;
            Filled? f = await JoinAsync(_originFills, id, () => ReadOriginAsync(id, blobLength), cancellationToken).ConfigureAwait(false);
            if (f is { } got) return (got.Chunk, got.Source);
        }
        throw new InvalidOperationException($"chunk {id} could not be held after four attempts");
    }

    /// <summary>
    /// The stored chunk, if it has the length <paramref name="blobLength"/> gives chunk <paramref name="id"/>. One of
    /// another length is not this chunk, whatever put it there (a cache directory outlives the node that wrote it):
    /// it is dropped from the store and reported as a miss, so it is fetched again and never served.
    /// </summary>
    private bool TryGetStored(in ChunkId id, long blobLength, out ChunkBuffer? chunk, out ChunkTier tier, bool memoryOnly = false)
    {
        if (!_store.TryGet(id, out chunk, out tier, memoryOnly)) return false;
        long expected = ChunkLength(blobLength, id.Index);
        if (chunk!.Length == expected) return true;
        _logger.LogWarning("stored chunk {Chunk} is {Length} bytes where the blob's {BlobLength} bytes give {Expected}; dropped, fetching it again",
            id, chunk.Length, blobLength, expected);
        chunk.Release();
        chunk = null;
        tier = ChunkTier.Memory;
        _store.Discard(id);
        return false;
    }

    /// <summary>Starts fetching a chunk a sequential reader will want next, unless enough prefetches are running.</summary>
    public void Prefetch(ChunkId id, long blobLength)
    {
        if (_store.Contains(id) || _reads.ContainsKey(id) || _prefetched.Contains(id) || !_prefetchSlots.Wait(0)) return;
        _ = Task.Run(async () =>
        {
            try
            {
                (ChunkBuffer chunk, _) = await GetAsync(id, blobLength, countRead: false, _shutdown.Token).ConfigureAwait(false);
                chunk.Release();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _logger.LogDebug("read-ahead of {Chunk} failed: {Error}", id, e.Message);
            }
            finally
            {
                _prefetchSlots.Release();
            }
        });
    }

    // Joins (or starts) the one fetch of a chunk. A reader that joins before the fetch completes is handed a reference
    // of its own, so it gets the chunk even if the store evicts it at once. Null only for a reader that came after
    // completion when the chunk had already left both the flight and the store: it looks again.
    // A flight started by a reader that is not counted (read-ahead) remembers where it got the chunk for the first
    // reader that is (PrefetchedChunks).
    private async Task<Filled?> JoinAsync(ConcurrentDictionary<ChunkId, Flight> flights, ChunkId id, Func<Task<Filled>> fetch, CancellationToken cancellationToken,
        bool counted = true)
    {
        var mine = new Flight();
        Flight flight = flights.GetOrAdd(id, mine);
        if (!flight.TryJoin())
        {
            Filled done = await flight.Done.ConfigureAwait(false);
            return done.Chunk.TryAddRef() ? done : null;
        }
        if (ReferenceEquals(flight, mine)) _ = RunFlight(flights, id, mine, fetch, rememberSource: !counted);
        try
        {
            return await flight.Done.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Completed as this reader gave up: the reference it was handed is its to give back.
            if (flight.Leave(out ChunkBuffer? handed)) handed.Release();
            throw;
        }
    }

    // Removes only its own entry: a flight never drops a newer one started after it.
    private async Task RunFlight(ConcurrentDictionary<ChunkId, Flight> flights, ChunkId id, Flight self, Func<Task<Filled>> fetch, bool rememberSource)
    {
        await Task.Yield(); // never run the fetch inside GetOrAdd's caller
        Filled? fetched = null;
        Filled f;
        try
        {
            // A flight that finished between the caller's store lookup and GetOrAdd has already stored the chunk:
            // look once more, or the chunk would be fetched (and Blob read) twice.
            fetched = _store.TryGet(id, out ChunkBuffer? stored, out ChunkTier tier)
                ? new Filled(stored!, tier == ChunkTier.Memory ? ReadSource.Memory : ReadSource.Disk)
                : await fetch().ConfigureAwait(false);
            f = fetched.Value;
            // Once only: a second Put of a chunk whose disk write is still queued queues another write (and, on a full
            // disk, counted every failure twice).
            if (!f.Stored && f.Source is not (ReadSource.Memory or ReadSource.Disk))
            {
                _store.Put(id, f.Chunk);
                f = f with { Stored = true };
            }
            // Before completion, so a counted reader that takes the chunk from this flight finds it to forget.
            // The reference kept for that reader outlives the memory tier's eviction of a chunk read ahead.
            if (rememberSource && f.Source is not (ReadSource.Memory or ReadSource.Disk) && f.Chunk.TryAddRef()) _prefetched.Remember(id, f.Source, f.Chunk);
        }
        catch (Exception e)
        {
            flights.TryRemove(KeyValuePair.Create(id, self));
            self.Fail(e);
            fetched?.Chunk.Release();
            return;
        }
        int readers = self.Complete(f);
        // Leaves the table only now: a reader that found the flight until here joins it (and takes a reference while
        // the fetch still holds its own); one that comes later finds the chunk in the store, or fetches it again.
        flights.TryRemove(KeyValuePair.Create(id, self));
        // Every reader past the first read the chunk as surely as a later memory hit would have: the eviction policy
        // must not take a chunk many readers wanted at once for one read once.
        if (readers > 1) _store.Touch(id, readers - 1);
        f.Chunk.Release();
    }

    /// <summary>
    /// One fetch of one chunk and the readers waiting for it. Completion hands each waiting reader a reference of its
    /// own before anyone else can let go of the chunk, so no waiter can wake to find it released.
    /// </summary>
    private sealed class Flight
    {
        private readonly TaskCompletionSource<Filled> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Lock _gate = new();
        private int _waiting;
        private bool _completed;
        private ChunkBuffer? _handedOut;

        public Task<Filled> Done => _done.Task;

        /// <summary>Counts the caller in for a reference at completion; false when the flight has already completed.</summary>
        public bool TryJoin()
        {
            lock (_gate)
            {
                if (_completed) return false;
                _waiting++;
                return true;
            }
        }

        /// <summary>A reader that gives up; true when it had already been handed a reference, which it must release.</summary>
        public bool Leave([NotNullWhen(true)] out ChunkBuffer? handed)
        {
            lock (_gate)
            {
                handed = _handedOut;
                if (!_completed) _waiting--;
                return handed is not null;
            }
        }

        /// <summary>Hands every waiting reader its reference (the caller still holds its own); returns how many.</summary>
        public int Complete(Filled f)
        {
            int readers;
            lock (_gate)
            {
                _completed = true;
                _handedOut = f.Chunk;
                readers = _waiting;
                for (int i = 0; i < readers; i++)
                {
                    bool added = f.Chunk.TryAddRef();
                    Debug.Assert(added, "the flight holds a reference until it has handed out all of these");
                }
            }
            _done.SetResult(f);
            return readers;
        }

        public void Fail(Exception e)
        {
            lock (_gate) _completed = true;
            _done.SetException(e);
        }
    }

    private static long Now => RouteClock.Now;

    /// <summary>
    /// One fetch past this node's tiers, as <see cref="ChunkRoute"/> decides it: owners in the region (each fills from
    /// Blob for the region), holders a busy owner names (asked without fill), the busy owner again after a backoff,
    /// owners in pooled regions (without fill), then this node's own fill from Blob.
    /// </summary>
    private async Task<Filled> FetchAsync(ChunkId id, long blobLength)
    {
        MeshSnapshot mesh = _mesh.Current;
        ChunkRoute route = ChunkRoute.Plan(_routing, PlacementKey(id, blobLength), mesh.Self, mesh.Placement.ForRegion(mesh.Region), PooledPlacements(mesh));
        RouteDecision step = route.Start(Now);
        while (step.Step == RouteStep.AskPeer)
        {
            if (mesh.MetaOf(step.Member) is not { } peer)
            {
                step = route.OnAnswer(Now, PeerAnswer.Failed);
                continue;
            }
            // A busy owner asked again: the decision's time, not a guess.
            long wait = step.NotBefore - Now;
            if (wait > 0) await Task.Delay(Micros.ToTimeSpan(wait), _shutdown.Token).ConfigureAwait(false);
            PeerReply reply = await AskPeerAsync(peer, id, blobLength, step).ConfigureAwait(false);
            if (reply.Chunk is { } chunk)
            {
                if (step.Role == PeerRole.Holder) _metrics.PeerHandoff();
                return new Filled(chunk, step.Role == PeerRole.PooledOwner ? ReadSource.PeerRemoteRegion : ReadSource.Peer);
            }
            step = OnAnswer(ref route, mesh, reply);
        }
        // Blob last (also when a peer says the blob changed: this node's own read is conditional on its ETag, so it
        // either gets the right bytes or learns the change from Blob itself). The owner fill is shared with peers
        // asking this node for the same chunk.
        for (int attempt = 0; ; attempt++)
        {
            Filled? f = await JoinAsync(_originFills, id, () => ReadOriginAsync(id, blobLength), _shutdown.Token).ConfigureAwait(false);
            if (f is { } got) return got;
            if (_store.TryGet(id, out ChunkBuffer? hit, out _)) return new Filled(hit!, ReadSource.Blob, Stored: true);
            if (attempt >= 3) throw new InvalidOperationException($"chunk {id} could not be held");
        }
    }

    /// <summary>
    /// Hands a peer's answer to the route, with the holders it named that this node's own view has alive: a name it
    /// does not know is dropped, so a peer can never send this node to an address it did not learn by gossip.
    /// </summary>
    private static RouteDecision OnAnswer(ref ChunkRoute route, MeshSnapshot mesh, in PeerReply reply)
    {
        Span<int> holders = stackalloc int[PeerHolders.MaxIds];
        int known = 0;
        for (int i = 0; i < reply.Holders.Count; i++)
        {
            int member = mesh.LiveIndexOf(reply.Holders[i]);
            if (member >= 0) holders[known++] = member;
        }
        return route.OnAnswer(Now, reply.Answer, holders[..known]);
    }

    // The pooled regions' placements, built once per mesh snapshot rather than per chunk.
    private sealed record PooledView(MeshSnapshot Mesh, RegionPlacement[] Regions);

    private PooledView? _pooled;

    private RegionPlacement[] PooledPlacements(MeshSnapshot mesh)
    {
        if (_options.PooledRegions.Count == 0) return [];
        PooledView? view = Volatile.Read(ref _pooled);
        if (view?.Mesh != mesh)
        {
            view = new PooledView(mesh, _options.PooledRegions.Where(r => r != mesh.Region).Select(mesh.Placement.ForRegion).ToArray());
            Volatile.Write(ref _pooled, view);
        }
        return view.Regions;
    }

    /// <summary>
    /// Asks one peer what <paramref name="step"/> says, within its deadline. A broken transfer or a timeout is an
    /// answer too (<see cref="PeerAnswer.Failed"/>, <see cref="PeerAnswer.TimedOut"/>), with one warning line.
    /// </summary>
    private async Task<PeerReply> AskPeerAsync(MemberMeta peer, ChunkId id, long blobLength, RouteDecision step)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token);
        timeout.CancelAfter(Micros.ToTimeSpan(Math.Max(1, step.Deadline - Now)));
        long started = Stopwatch.GetTimestamp();
        bool remote = step.Role == PeerRole.PooledOwner;
        try
        {
            PeerReply reply = await _peers.AskAsync(peer, id, blobLength, step.Fill, Micros.ToTimeSpan(_routing.AnswerTimeoutMicros), timeout.Token).ConfigureAwait(false);
            _metrics.PeerLatency(Stopwatch.GetElapsedTime(started), remote);
            if (reply.Answer == PeerAnswer.BlobChanged)
                _logger.LogWarning("peer {Peer} has {Chunk} at another version ({Message}); reading it from Blob", peer.Id, id, reply.Message);
            return reply;
        }
        catch (Exception e) when (e is PeerTransferException or OperationCanceledException or IOException or System.Net.Http.HttpRequestException or Grpc.Core.RpcException)
        {
            if (_shutdown.IsCancellationRequested) throw;
            _metrics.PeerFailure();
            bool timedOut = e is OperationCanceledException;
            _logger.LogWarning("peer {Peer} failed for {Chunk} after {Ms:F0} ms: {Error}; trying the next source",
                peer.Id, id, Stopwatch.GetElapsedTime(started).TotalMilliseconds, timedOut ? "timed out" : e.Message);
            return new PeerReply(timedOut ? PeerAnswer.TimedOut : PeerAnswer.Failed, null, default, e.Message);
        }
    }

    private async Task<Filled> ReadOriginAsync(ChunkId id, long blobLength)
    {
        long offset = id.Index * ChunkSize;
        int length = (int)ChunkLength(blobLength, id.Index);
        if (length <= 0) throw new ArgumentOutOfRangeException(nameof(id), $"chunk {id.Index} is past the end of a {blobLength}-byte blob");
        ChunkBuffer chunk = ChunkBuffer.Rent(length);
        try
        {
            _metrics.BlobGet();
            await _origin.ReadAsync(id.Container, id.Blob, id.ETag, blobLength, offset, chunk.WritableMemory, _shutdown.Token).ConfigureAwait(false);
            chunk.Seal();
            return new Filled(chunk, ReadSource.Blob);
        }
        catch (Exception e)
        {
            chunk.Release();
            if (e is OriginException) _metrics.OriginError();
            throw;
        }
    }

    public void Dispose()
    {
        _shutdown.Cancel();
        _shutdown.Dispose();
        _prefetchSlots.Dispose();
        _prefetched.Dispose();
    }
}
