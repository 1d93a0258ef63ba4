using System.Collections;
using BlobCache.Mesh;
using BlobCache.Mesh.Membership;
using BlobCache.Mesh.Placement;
using BlobCache.Sim.Engine;

namespace BlobCache.Sim.Scenarios;

/// <summary>
/// The data plane of a simulation: nodes read chunks through the mesh — own cache, then the chunk's owner in the
/// region (the real <see cref="RegionPlacement"/> over a live view), then an owner in a pooled region, then Blob —
/// with single-flight on owners, transfer times from NIC bandwidth and latency, and an owner that sends later
/// requesters to peers already holding the chunk once it has <see cref="DataWorkload.OwnerConcurrency"/> transfers
/// queued. A request to an owner that has crashed (the view still lists it) times out, then goes to the chunk's
/// second owner, then to Blob. Each node's cache holds <see cref="DataWorkload.CacheChunks"/> chunks (0: all) and
/// evicts the least recently used. Runs in the same virtual time as the membership, interleaved event by event.
/// </summary>
public sealed class DataSimulation
{
    private readonly DataWorkload _w;
    private readonly SimCluster _cluster;
    private readonly int _regions;
    private readonly DeterministicRandom _random;
    private readonly PriorityQueue<DataEvent, (long, long)> _queue = new();
    private readonly long _chunkBytes, _transferMicros, _blobMicros, _ownerTimeout;
    private readonly Dictionary<long, List<int>> _waiters = []; // (node, chunk) → readers waiting for that node's fetch
    private readonly List<int>[] _holders; // a bounded sample of nodes holding each chunk
    private readonly Queue<(int Reader, Source Source)>?[] _pending; // requesters waiting for a free sender, per chunk
    private readonly Dictionary<int, List<int>> _pendingChunksOf = []; // node → chunks with requesters waiting for it
    private readonly ulong[] _chunkKeys;
    private NodeData[] _nodes = [];
    private long _seq;
    private PlacementMap _placement = PlacementMap.Empty;
    private int[] _memberToNode = [];
    private int _placementVersion = -1;
    private long _placementAt = -1;
    private int _phase;
    private int[] _order = [];
    private readonly long _start;
    private long _finishedAt = -1;
    private readonly long[] _bytes = new long[4];

    public DataSimulation(DataWorkload workload, SimCluster cluster, int regions, ulong seed)
    {
        _w = workload;
        _cluster = cluster;
        _regions = regions;
        _random = new DeterministicRandom(DeterministicRandom.Derive(seed, 0xDA7A));
        _chunkBytes = (long)workload.ChunkMib << 20;
        _transferMicros = (long)(_chunkBytes * 8 / (workload.NicGbps * 1e9) * Micros.PerSecond);
        _blobMicros = (long)(workload.BlobLatencyMs * Micros.PerMillisecond + _chunkBytes * 8 / (workload.BlobGbps * 1e9) * Micros.PerSecond);
        _ownerTimeout = Micros.PerSecond;
        _holders = new List<int>[workload.Chunks];
        _pending = new Queue<(int, Source)>?[workload.Chunks];
        _chunkKeys = new ulong[workload.Chunks];
        ulong blob = StableHash.BlobKey("dataset", workload.Kind == "stampede" ? "model.safetensors" : "shards");
        for (int c = 0; c < workload.Chunks; c++) _chunkKeys[c] = StableHash.ChunkKey(blob, c);
        _start = Micros.From(TimeSpan.FromSeconds(workload.Start));
        Enqueue(_start, new DataEvent(DataEventKind.StartPhase, 0, 0, Source.Local));
    }

    public long ReadsDone { get; private set; }
    public long ReadsTotal { get; private set; }
    public long BlobGets { get; private set; }
    public int MaxOwnerConcurrency { get; private set; }
    public long OwnerTimeouts { get; private set; }
    public long Redirects { get; private set; }
    /// <summary>Requests that went to the chunk's second owner after the first timed out.</summary>
    public long OwnerRetries { get; private set; }
    public long Evictions { get; private set; }

    /// <summary>Advances both planes to <paramref name="until"/>, in time order.</summary>
    public void RunUntil(long until)
    {
        while (_queue.TryPeek(out _, out var p) && p.Item1 <= until)
        {
            _cluster.RunUntil(p.Item1);
            DataEvent e = _queue.Dequeue();
            Handle(e);
        }
        _cluster.RunUntil(until);
    }

    private void Handle(DataEvent e)
    {
        switch (e.Kind)
        {
            case DataEventKind.StartPhase: StartPhase(); break;
            case DataEventKind.NextRead: NextRead(e.Node); break;
            case DataEventKind.BlobDone: Fetched(e.Node, e.Chunk, e.Source); break;
            case DataEventKind.SendDone:
                _nodes[e.Node].Outstanding--;
                Dispatch(e.Chunk, e.Node);
                if (_pendingChunksOf.TryGetValue(e.Node, out List<int>? chunks))
                {
                    for (int i = 0; i < chunks.Count && _nodes[e.Node].Outstanding < _w.OwnerConcurrency; i++) Dispatch(chunks[i], e.Node);
                    chunks.RemoveAll(c => _pending[c] is not { Count: > 0 });
                    if (chunks.Count == 0) _pendingChunksOf.Remove(e.Node);
                }
                break;
            case DataEventKind.Arrive: Arrived(e.Node, e.Chunk, e.Source); break;
            case DataEventKind.OwnerTimeout: AfterOwnerTimeout(e.Node, e.Chunk, secondTried: e.Source == Source.Blob); break;
        }
    }

    // ---------------------------------------------------------------- who reads what

    private void StartPhase()
    {
        RefreshPlacement(force: true);
        if (_nodes.Length < _cluster.Nodes.Count) Array.Resize(ref _nodes, _cluster.Nodes.Count);
        _order = Permutation(_w.Chunks);
        var readersByRegion = new List<int>[_regions];
        for (int r = 0; r < _regions; r++) readersByRegion[r] = [];
        foreach (SimNode n in _cluster.Nodes)
            if (n.IsRunning && ReadsInPhase(n.Info.Region)) readersByRegion[n.Info.Region].Add(n.Index);
        foreach (List<int> readers in readersByRegion)
        {
            for (int k = 0; k < readers.Count; k++)
            {
                int node = readers[k];
                _nodes[node] ??= new NodeData(_w.Chunks, _w.CacheChunks);
                NodeData d = _nodes[node];
                // Sharded: the k-th reader of a region reads every readers.Count-th chunk of this phase's order.
                d.Position = _w.Kind == "stampede" ? 0 : k;
                d.Stride = _w.Kind == "stampede" ? 1 : readers.Count;
                int reads = d.Position >= _w.Chunks ? 0 : (_w.Chunks - 1 - d.Position) / d.Stride + 1;
                ReadsTotal += reads;
                for (int i = 0; i < _w.ReaderConcurrency; i++) Enqueue(_cluster.Now, new DataEvent(DataEventKind.NextRead, node, 0, Source.Local));
            }
        }
    }

    /// <summary>Epoch: everyone, twice (second order reshuffled). Stampede: everyone, once. Pooled: region 0, then the others.</summary>
    private bool ReadsInPhase(int region) => _w.Kind switch
    {
        "pooled" => _phase == 0 ? region == 0 : region != 0,
        _ => true,
    };

    private int Phases => _w.Kind == "stampede" ? 1 : 2;

    private void NextRead(int node)
    {
        NodeData d = _nodes[node];
        if (!_cluster.Nodes[node].IsRunning || d.Position >= _w.Chunks) return;
        int chunk = _order[d.Position];
        d.Position += d.Stride;
        d.Reading++;
        if (d.Has(chunk))
        {
            d.Touch(chunk);
            _bytes[(int)Source.Local] += _chunkBytes;
            Complete(node);
            return;
        }
        RefreshPlacement(force: false);
        int region = _cluster.Nodes[node].Info.Region;
        int owner = OwnerIn(region, chunk);
        if (owner < 0 || owner == node)
        {
            StartFetch(node, chunk, node, allowRemote: true);
            return;
        }
        if (!_cluster.Nodes[owner].IsRunning)
        {
            // The view still lists a dead owner: the request times out, then goes to the second owner.
            OwnerTimeouts++;
            Enqueue(_cluster.Now + _ownerTimeout, new DataEvent(DataEventKind.OwnerTimeout, node, chunk, Source.Peer));
            return;
        }
        Serve(owner, node, chunk);
    }

    /// <summary>
    /// The owner did not answer: ask the chunk's second owner in the region (which fetches once for every reader
    /// that retries, so a dead owner costs one Blob read per chunk, not one per reader); if that one is dead too,
    /// or was already tried, the reader goes to Blob itself.
    /// </summary>
    private void AfterOwnerTimeout(int node, int chunk, bool secondTried)
    {
        if (!secondTried)
        {
            int second = OwnerIn(_cluster.Nodes[node].Info.Region, chunk, rank: 1);
            if (second == node)
            {
                StartFetch(node, chunk, node, allowRemote: true);
                return;
            }
            if (second >= 0 && _cluster.Nodes[second].IsRunning)
            {
                OwnerRetries++;
                Serve(second, node, chunk);
                return;
            }
            if (second >= 0)
            {
                OwnerTimeouts++;
                Enqueue(_cluster.Now + _ownerTimeout, new DataEvent(DataEventKind.OwnerTimeout, node, chunk, Source.Blob));
                return;
            }
        }
        StartFetch(node, chunk, node, allowRemote: false);
    }

    private void Complete(int node)
    {
        ReadsDone++;
        _nodes[node].Reading--;
        Enqueue(_cluster.Now, new DataEvent(DataEventKind.NextRead, node, 0, Source.Local));
        if (ReadsDone == ReadsTotal)
        {
            _phase++;
            if (_phase < Phases) Enqueue(_cluster.Now, new DataEvent(DataEventKind.StartPhase, 0, 0, Source.Local));
            else _finishedAt = _cluster.Now;
        }
    }

    // ---------------------------------------------------------------- owners

    /// <summary>An owner asked for a chunk: send it if held (or hand the requester to a holder when busy); otherwise fetch once for all waiters.</summary>
    private void Serve(int owner, int reader, int chunk)
    {
        NodeData o = _nodes[owner] ??= new NodeData(_w.Chunks, _w.CacheChunks);
        if (o.Has(chunk))
        {
            o.Touch(chunk);
            Send(owner, reader, chunk, Source.Peer);
            return;
        }
        StartFetch(owner, chunk, reader, allowRemote: true);
    }

    private void StartFetch(int node, int chunk, int reader, bool allowRemote)
    {
        long key = (long)node << 32 | (uint)chunk;
        if (_waiters.TryGetValue(key, out List<int>? waiting))
        {
            waiting.Add(reader); // single-flight: one fetch per (node, chunk)
            return;
        }
        _waiters[key] = [reader];
        if (allowRemote && _w.Kind == "pooled")
        {
            int region = _cluster.Nodes[node].Info.Region;
            for (int r = 0; r < _regions; r++)
            {
                if (r == region) continue;
                int remote = OwnerIn(r, chunk);
                if (remote >= 0 && _cluster.Nodes[remote].IsRunning && _nodes[remote] is { } rd && rd.Has(chunk))
                {
                    Transfer(remote, node, chunk, Source.PeerRemoteRegion);
                    return;
                }
            }
        }
        BlobGets++;
        Enqueue(_cluster.Now + _blobMicros, new DataEvent(DataEventKind.BlobDone, node, chunk, Source.Blob));
    }

    /// <summary>A node now holds a chunk it fetched (from Blob or another region): keep it, then serve everyone who waited.</summary>
    private void Fetched(int node, int chunk, Source how)
    {
        NodeData d = _nodes[node] ??= new NodeData(_w.Chunks, _w.CacheChunks);
        Evictions += d.Add(chunk);
        AddHolder(chunk, node);
        long key = (long)node << 32 | (uint)chunk;
        if (!_waiters.Remove(key, out List<int>? waiting)) return;
        foreach (int reader in waiting)
        {
            if (reader == node)
            {
                _bytes[(int)how] += _chunkBytes;
                Complete(node);
            }
            else
            {
                Send(node, reader, chunk, how);
            }
        }
    }

    /// <summary>
    /// Sends a chunk to a requester from <paramref name="from"/> if it has a free transfer slot, else from a peer that
    /// already holds the chunk and has one; when nobody has, the request waits for the next free slot or new holder.
    /// So no node ever has more than <see cref="DataWorkload.OwnerConcurrency"/> transfers queued, and every
    /// finished transfer adds a server: a stampede spreads as a tree instead of queueing on the owner.
    /// </summary>
    private void Send(int from, int to, int chunk, Source source)
    {
        if (TrySend(from, to, chunk, source)) return;
        (_pending[chunk] ??= new Queue<(int, Source)>()).Enqueue((to, source));
        // Remember at the intended sender too: its next free slot, whatever chunk it finished, serves these.
        if (!_pendingChunksOf.TryGetValue(from, out List<int>? chunks)) _pendingChunksOf[from] = chunks = [];
        if (!chunks.Contains(chunk)) chunks.Add(chunk);
    }

    /// <summary>Starts the transfer from <paramref name="preferred"/> or a holder with a free slot; false when there is none.</summary>
    private bool TrySend(int preferred, int to, int chunk, Source source)
    {
        int sender = PickSender(preferred, to, chunk);
        if (sender < 0) return false;
        if (sender != preferred)
        {
            Redirects++;
            source = Source.Peer;
        }
        Transfer(sender, to, chunk, source);
        return true;
    }

    private int PickSender(int preferred, int to, int chunk)
    {
        if (preferred != to && _cluster.Nodes[preferred].IsRunning && _nodes[preferred] is { } p && p.Has(chunk) && p.Outstanding < _w.OwnerConcurrency)
            return preferred;
        if (_holders[chunk] is not { Count: > 0 } holders) return -1;
        for (int i = 0; i < 4; i++)
        {
            int h = holders[_random.Next(holders.Count)];
            // The sample may name a node that has evicted the chunk since.
            if (h != to && _cluster.Nodes[h].IsRunning && _nodes[h].Outstanding < _w.OwnerConcurrency && _nodes[h].Has(chunk)) return h;
        }
        return -1;
    }

    /// <summary>A slot freed up on, or a new copy arrived at, <paramref name="node"/>: serve waiting requesters of the chunk.</summary>
    private void Dispatch(int chunk, int node)
    {
        if (_pending[chunk] is not { Count: > 0 } waiting) return;
        while (waiting.Count > 0 && TrySend(node, waiting.Peek().Reader, chunk, waiting.Peek().Source))
            waiting.Dequeue();
        // A bounded cache may have evicted the chunk the requesters were waiting for: the node fetches it again.
        if (_nodes[node] is { } d && !d.Has(chunk) && _cluster.Nodes[node].IsRunning)
            while (waiting.Count > 0) Serve(node, waiting.Dequeue().Reader, chunk);
    }

    /// <summary>
    /// Moves one chunk: the sender's NIC sends its queue one chunk at a time (size/bandwidth each), the receiver's
    /// NIC takes one at a time too, and the bytes arrive a latency later. The two queues are separate, so a busy
    /// receiver never holds a sender's NIC idle.
    /// </summary>
    private void Transfer(int from, int to, int chunk, Source source)
    {
        NodeData s = _nodes[from], r = _nodes[to] ??= new NodeData(_w.Chunks, _w.CacheChunks);
        long sent = Math.Max(_cluster.Now, s.EgressFree) + _transferMicros;
        s.EgressFree = sent;
        r.IngressFree = Math.Max(r.IngressFree + _transferMicros, sent);
        long done = r.IngressFree;
        s.Outstanding++;
        MaxOwnerConcurrency = Math.Max(MaxOwnerConcurrency, s.Outstanding);
        long latency = _cluster.Network.Latency(_cluster.Nodes[from].Info, _cluster.Nodes[to].Info, _random);
        Enqueue(sent, new DataEvent(DataEventKind.SendDone, from, chunk, source));
        Enqueue(done + latency, new DataEvent(DataEventKind.Arrive, to, chunk, source));
    }

    private void Arrived(int node, int chunk, Source source)
    {
        if (_waiters.ContainsKey((long)node << 32 | (uint)chunk))
        {
            Fetched(node, chunk, source); // an owner's fetch from another region: keep it and serve its waiters
            return;
        }
        Evictions += _nodes[node].Add(chunk);
        AddHolder(chunk, node);
        _bytes[(int)source] += _chunkBytes;
        Complete(node);
        Dispatch(chunk, node);
    }

    private void AddHolder(int chunk, int node)
    {
        List<int> holders = _holders[chunk] ??= [];
        if (holders.Count < 64) holders.Add(node);
        else holders[_random.Next(64)] = node; // a bounded, fresh sample
    }

    // ---------------------------------------------------------------- placement

    private int OwnerIn(int region, int chunk, int rank = 0)
    {
        RegionPlacement placement = _placement.ForRegion($"region-{region}");
        int member;
        if (rank == 0) member = placement.Owner(_chunkKeys[chunk]);
        else
        {
            Span<int> owners = stackalloc int[rank + 1];
            member = placement.Owners(_chunkKeys[chunk], owners) > rank ? owners[rank] : -1;
        }
        return member < 0 || member >= _memberToNode.Length ? -1 : _memberToNode[member];
    }

    /// <summary>Placement from one running node's view, rebuilt when that view changed (at most once a virtual second).</summary>
    private void RefreshPlacement(bool force)
    {
        if (!force && _cluster.Now - _placementAt < Micros.PerSecond) return;
        SimNode? reference = _cluster.Nodes.FirstOrDefault(n => n.IsRunning);
        if (reference is null) return;
        if (!force && reference.Swim.ViewVersion == _placementVersion) return;
        _placementAt = _cluster.Now;
        _placementVersion = reference.Swim.ViewVersion;
        _placement = ViewPlacement.Build(reference.Swim.View, reference.Swim.Directory);
        _memberToNode = new int[_cluster.Directory.Count];
        Array.Fill(_memberToNode, -1);
        // Crashed nodes too: a view that still lists a dead owner sends readers to it, and they time out. A
        // restarted member's latest process comes last, so it wins.
        foreach (SimNode n in _cluster.Nodes) _memberToNode[n.Swim.Self] = n.Index;
        if (_nodes.Length < _cluster.Nodes.Count) Array.Resize(ref _nodes, _cluster.Nodes.Count);
    }

    private int[] Permutation(int n)
    {
        int[] p = Enumerable.Range(0, n).ToArray();
        for (int i = n - 1; i > 0; i--)
        {
            int j = _random.Next(i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }

    private void Enqueue(long at, DataEvent e) => _queue.Enqueue(e, (at, ++_seq));

    public DataReport Report()
    {
        int readingRegions = _w.Kind == "pooled" ? 1 : _regions;
        double idealSeconds = _w.Kind == "stampede"
            ? _w.Chunks * (double)_transferMicros / Micros.PerSecond
            : double.NaN;
        return new DataReport
        {
            Kind = _w.Kind,
            BlobGets = BlobGets,
            UniqueChunks = _w.Chunks,
            BlobReadsPerChunkPerRegion = BlobGets / (double)(_w.Chunks * readingRegions),
            BytesLocal = _bytes[(int)Source.Local],
            BytesPeer = _bytes[(int)Source.Peer],
            BytesPeerRemoteRegion = _bytes[(int)Source.PeerRemoteRegion],
            BytesBlob = _bytes[(int)Source.Blob],
            MaxOwnerConcurrency = MaxOwnerConcurrency,
            OwnerConcurrencyLimit = _w.OwnerConcurrency,
            Redirects = Redirects,
            OwnerTimeouts = OwnerTimeouts,
            OwnerRetries = OwnerRetries,
            Evictions = Evictions,
            CacheChunks = _w.CacheChunks,
            ReadsDone = ReadsDone,
            ReadsTotal = ReadsTotal,
            CompletionSeconds = _finishedAt < 0 ? -1 : Micros.ToSeconds(_finishedAt - _start),
            IdealSeconds = idealSeconds,
        };
    }

    private enum DataEventKind : byte { StartPhase, NextRead, BlobDone, SendDone, Arrive, OwnerTimeout }

    private readonly record struct DataEvent(DataEventKind Kind, int Node, int Chunk, Source Source);

    /// <summary>Where a read's bytes came from, from the reader's point of view: own cache, a peer in its region, another region, or Blob.</summary>
    public enum Source : byte { Local, Peer, PeerRemoteRegion, Blob }

    /// <summary>
    /// Per-node data-plane state: which chunks it holds (a bit per chunk), its read cursor and its NIC. With a
    /// capacity, held chunks also sit on a CLOCK ring: a used bit per chunk, and the hand evicts the first chunk
    /// not used since it last passed (an approximation of least recently used without a list node per chunk).
    /// </summary>
    private sealed class NodeData(int chunks, int capacity)
    {
        private readonly BitArray _held = new(chunks);
        private readonly BitArray? _used = capacity > 0 ? new(chunks) : null;
        private int[] _ring = [];
        private int _count, _hand;
        public int Position, Stride = 1, Reading, Outstanding;
        public long EgressFree, IngressFree;

        public bool Has(int chunk) => _held[chunk];

        /// <summary>Marks a held chunk as just used (read here or served to a peer).</summary>
        public void Touch(int chunk) => _used?.Set(chunk, true);

        /// <summary>Keeps a chunk; returns how many it evicted for room (0 or 1).</summary>
        public int Add(int chunk)
        {
            if (_held[chunk]) return 0;
            _held[chunk] = true;
            if (_used is null) return 0;
            if (_count < capacity)
            {
                // The ring grows as the cache fills, so small caches of many nodes cost only what they hold.
                if (_count == _ring.Length) Array.Resize(ref _ring, Math.Min(capacity, Math.Max(16, _ring.Length * 2)));
                _ring[_count++] = chunk;
                return 0;
            }
            while (true)
            {
                int victim = _ring[_hand];
                if (_used[victim])
                {
                    _used[victim] = false; // a second chance
                    _hand = (_hand + 1) % capacity;
                    continue;
                }
                _held[victim] = false;
                _ring[_hand] = chunk;
                _hand = (_hand + 1) % capacity;
                return 1;
            }
        }
    }
}

/// <summary>What the data plane did.</summary>
public sealed record DataReport
{
    public required string Kind { get; init; }
    public long BlobGets { get; init; }
    public long UniqueChunks { get; init; }
    public double BlobReadsPerChunkPerRegion { get; init; }
    public long BytesLocal { get; init; }
    public long BytesPeer { get; init; }
    public long BytesPeerRemoteRegion { get; init; }
    public long BytesBlob { get; init; }
    public int MaxOwnerConcurrency { get; init; }
    public int OwnerConcurrencyLimit { get; init; }
    public long Redirects { get; init; }
    public long OwnerTimeouts { get; init; }
    public long OwnerRetries { get; init; }
    public long Evictions { get; init; }
    /// <summary>Per-node cache capacity in chunks; 0 when unbounded.</summary>
    public int CacheChunks { get; init; }
    public long ReadsDone { get; init; }
    public long ReadsTotal { get; init; }
    public double CompletionSeconds { get; init; }
    public double IdealSeconds { get; init; }
}
