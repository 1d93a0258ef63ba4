using BlobCache.Mesh;
using BlobCache.Mesh.Membership;
using BlobCache.Mesh.Origin;
using BlobCache.Mesh.Placement;
using BlobCache.Mesh.Reading;
using BlobCache.Sim.Engine;

namespace BlobCache.Sim.Scenarios;

/// <summary>
/// The data plane of a simulation. Every chunk a node does not hold is fetched through the node's own routing,
/// <see cref="ChunkRoute"/> (owners of the region in rank order, holders a busy owner names, the busy owner again,
/// owners in pooled regions, Blob), and every peer asked answers through the node's own <see cref="OwnerPolicy"/>
/// with its own transfer count and its own <see cref="RecentHolders"/>. What is simulated is only what a real mesh
/// has around that logic: transfer times from NIC bandwidth and latency, Blob's latency and bandwidth, each node's
/// CLOCK cache, crashed peers that answer nothing (the route gives up on them at its deadline), and, for a
/// calibration run on one machine (<see cref="DataWorkload.Host"/>), the cores its processes share. Runs in the
/// same virtual time as the membership, interleaved event by event.
/// Every request to Blob goes through a <see cref="SimulatedOrigin"/> with the account's limits: a node needs a
/// blob's properties before reading it and learns them through the mesh or from Blob (DataSimulation.Metadata.cs);
/// a refused request is asked again after the node's <see cref="OriginBackoff"/>, and a request refused more often
/// than that fails its reads.
/// </summary>
public sealed partial class DataSimulation
{
    private const int NamedPerBusyAnswer = 4;

    private readonly DataWorkload _w;
    private readonly ReadRouting _routing;
    private readonly SimCluster _cluster;
    private readonly int _regions;
    private readonly DeterministicRandom _random;
    private readonly PriorityQueue<DataEvent, (long, long)> _queue = new();
    private readonly long _chunkBytes, _transferMicros, _blobMicros;
    private readonly InFlight<ChunkFetch> _fetches = new(id => new ChunkFetch { Id = id }); // per (node, chunk)
    private readonly ulong[] _chunkKeys;
    private readonly ulong[] _fileKeys;
    /// <summary>The listing's pages, keyed like the node keys a List Blobs request: by its canonical text.</summary>
    private readonly ulong[] _pageKeys;
    private readonly SimulatedOrigin _origin;
    private readonly OriginBackoff _backoff = OriginBackoff.Default;
    private readonly long _originLatencyMicros, _metadataTtlMicros;
    private readonly InFlight<MetadataLookup> _lookups = new(id => new MetadataLookup { Id = id }); // per (node, file)
    private readonly MetadataRouting _metadata;
    private NodeData[] _nodes = [];
    private long _seq, _asks;
    private PlacementMap _placement = PlacementMap.Empty;
    private RegionPlacement[] _regionPlacement = [];
    private RegionPlacement[][] _pooledOf = [];
    private int[] _memberToNode = [];
    private int _placementVersion = -1;
    private long _placementAt = -1;
    private int _phase;
    private int[] _order = [];
    private readonly long _start;
    private long _finishedAt = -1;
    private readonly long[] _bytes = new long[4];
    // A calibration run's one machine: its cores, and when the origin's one thread is next free.
    private readonly SharedHost? _host;
    private readonly SharedCores? _cores;
    private long _originFreeAt;

    public DataSimulation(DataWorkload workload, SimCluster cluster, int regions, ulong seed)
    {
        _w = workload;
        _routing = workload.Routing();
        _metadata = workload.Metadata();
        _cluster = cluster;
        _regions = regions;
        _random = new DeterministicRandom(DeterministicRandom.Derive(seed, 0xDA7A));
        _chunkBytes = (long)workload.ChunkMib << 20;
        _transferMicros = TransferMicros(_chunkBytes, workload.NicGbps);
        _originLatencyMicros = (long)(workload.BlobLatencyMs * Micros.PerMillisecond);
        _blobMicros = _originLatencyMicros + TransferMicros(_chunkBytes, workload.BlobGbps);
        _metadataTtlMicros = (long)(workload.MetadataTtlSeconds * Micros.PerSecond);
        _origin = new SimulatedOrigin(workload.Origin);
        _host = workload.Host;
        if (_host is not null) _cores = new SharedCores(_host.Cores);
        string name = workload.Kind == "stampede" ? "model" : "shards";
        _fileKeys = new ulong[workload.Files];
        for (int f = 0; f < workload.Files; f++)
            _fileKeys[f] = StableHash.BlobKey("dataset", workload.Files == 1 ? (workload.Kind == "stampede" ? "model.safetensors" : "shards") : $"{name}-{f + 1:D5}-of-{workload.Files:D5}");
        _pageKeys = new ulong[workload.ListPages];
        for (int p = 0; p < workload.ListPages; p++) _pageKeys[p] = StableHash.Of($"dataset?restype=container&comp=list&maxresults=5000&marker=page-{p}");
        if (workload.Kind == "kb") BuildZipf();
        _chunkKeys = new ulong[workload.Chunks];
        // Placed as the node places them: a one-chunk file's chunk lives with its properties (OneChunkBlob).
        for (int c = 0; c < workload.Chunks; c++)
            _chunkKeys[c] = OneChunkBlob.PlacementKey(ChunkHash(c), _fileKeys[FileOf(c)], FileBytes(FileOf(c)), _chunkBytes);
        _start = Micros.From(TimeSpan.FromSeconds(workload.Start));
        Enqueue(_start, new DataEvent(DataEventKind.StartPhase));
    }

    public long ReadsDone { get; private set; }
    public long ReadsTotal { get; private set; }
    /// <summary>Reads that failed: their blob's properties or their chunk refused by Blob more often than the node retries.</summary>
    public long ReadsFailed { get; private set; }
    public long BlobGets { get; private set; }
    public int MaxOwnerConcurrency { get; private set; }
    public long BusyAnswers { get; private set; }
    public long Handoffs { get; private set; }
    public long ServedByHolders { get; private set; }
    public long OwnerTimeouts { get; private set; }
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
            case DataEventKind.NextRead: NextRead(e.Subject, checkedFile: -1); break;
            case DataEventKind.ReadAfterHead when _w.Kind == "kb": ReadObject(e.Subject, e.Peer, checkedFile: e.Peer, e.Source, coldAsks: e.Ask - 1); break;
            case DataEventKind.ReadAfterHead: NextRead(e.Subject, checkedFile: e.Peer, e.Source, coldAsks: e.Ask - 1); break;
            case DataEventKind.ListNext: ListNext(e.Subject); break;
            case DataEventKind.SmallObjectRead: SmallObjectRead(e.Subject); break;
            case DataEventKind.Request: RequestArrived(_fetches[e.Subject], e.Ask); break;
            case DataEventKind.Answer: AnswerArrived(_fetches[e.Subject], e.Ask, e.Answer); break;
            case DataEventKind.Deadline: DeadlinePassed(_fetches[e.Subject], e.Ask); break;
            case DataEventKind.Arrive: ChunkArrived(_fetches[e.Subject], e.Ask, e.Peer, e.Source); break;
            case DataEventKind.BlobDone:
                if (_fetches[e.Subject].Ask == e.Ask) Finish(_fetches[e.Subject], Source.Blob);
                break;
            case DataEventKind.BlobRefused: BlobRefused(_fetches[e.Subject], e.Ask); break;
            case DataEventKind.BlobRetry:
                if (_fetches[e.Subject].Ask == e.Ask) ReadBlob(_fetches[e.Subject]);
                break;
            case DataEventKind.HeadServed: HeadAnswered(_lookups[e.Subject], e.Ask, served: true); break;
            case DataEventKind.HeadRefused: HeadAnswered(_lookups[e.Subject], e.Ask, served: false); break;
            case DataEventKind.HeadRetry:
                if (_lookups[e.Subject].Ask == e.Ask) AskOrigin(_lookups[e.Subject]);
                break;
            case DataEventKind.MetadataRequest: MetadataRequestArrived(_lookups[e.Subject], e.Ask); break;
            case DataEventKind.MetadataAnswered: MetadataAnswerArrived(_lookups[e.Subject], e.Ask, answered: true); break;
            case DataEventKind.MetadataAnsweredWithContent: ContentArrived(_lookups[e.Subject], e.Ask); break;
            case DataEventKind.MetadataRefused: MetadataAnswerArrived(_lookups[e.Subject], e.Ask, answered: false); break;
            case DataEventKind.MetadataDeadline: MetadataDeadlinePassed(_lookups[e.Subject], e.Ask); break;
            case DataEventKind.SendDone: _nodes[e.Peer].Sending--; break;
            case DataEventKind.ReadServed: Complete(e.Subject); break;
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
                if (_w.Kind == "kb")
                {
                    StartSmallObjectReads(node);
                    continue;
                }
                NodeData d = NodeOf(node);
                AssignReads(d, k, readers.Count);
                int reads = d.Position >= d.End ? 0 : (d.End - 1 - d.Position) / d.Stride + 1;
                ReadsTotal += reads;
                if (_w.Kind == "job-start") Enqueue(_cluster.Now, new DataEvent(DataEventKind.ListNext, node));
                else for (int i = 0; i < _w.ReaderConcurrency; i++) Enqueue(_cluster.Now, new DataEvent(DataEventKind.NextRead, node));
            }
        }
    }

    /// <summary>
    /// Which chunks of this phase's order the k-th of a region's readers reads. Stampede: all. Job-start: its shard,
    /// the next <see cref="DataWorkload.ShardFiles"/> files (one chunk each) by its index. Otherwise every
    /// readers-th chunk from the k-th: the region reads each chunk once.
    /// </summary>
    private void AssignReads(NodeData d, int k, int readers)
    {
        (d.Position, d.Stride, d.End) = _w.Kind switch
        {
            "stampede" => (0, 1, _w.Chunks),
            "job-start" => ((int)Math.Min((long)k * _w.ShardFiles, _w.Chunks), 1, (int)Math.Min((long)(k + 1) * _w.ShardFiles, _w.Chunks)),
            _ => (k, readers, _w.Chunks),
        };
    }

    /// <summary>Epoch: everyone, twice (second order reshuffled). Stampede, job-start, kb: everyone, once. Pooled: region 0, then the others.</summary>
    private bool ReadsInPhase(int region) => _w.Kind switch
    {
        "pooled" => _phase == 0 ? region == 0 : region != 0,
        _ => true,
    };

    private int Phases => _w.Kind is "epoch" or "pooled" ? 2 : 1;

    /// <summary>
    /// The node's next read. It needs the blob's properties first (held and not expired, or just answered for
    /// <paramref name="checkedFile"/>: with a TTL of 0 an answer serves the reads that waited for it, and no more).
    /// </summary>
    private void NextRead(int node, int checkedFile, Source heldFrom = Source.Local, long coldAsks = -1)
    {
        NodeData d = _nodes[node];
        if (!_cluster.Nodes[node].IsRunning || d.Position >= d.End) return;
        int chunk = _order[d.Position];
        if (FileOf(chunk) != checkedFile && !MetadataFresh(node, FileOf(chunk), forPeer: false, direct: false))
        {
            WaitForProperties(node, FileOf(chunk), chunk);
            return;
        }
        NoteAgeOfMetadata(d, FileOf(chunk));
        d.Position += d.Stride;
        d.Reading++;
        ReadChunk(node, chunk, heldFrom, coldAsks);
    }

    /// <summary>
    /// A read of one chunk (counted in <see cref="NodeData.Reading"/> already): from the node's cache (where it may have
    /// come <paramref name="heldFrom"/> a peer with its properties), or fetched. <paramref name="coldAsks"/>: the peer
    /// requests this read's properties cost, when it held neither them nor the bytes (else -1).
    /// </summary>
    private void ReadChunk(int node, int chunk, Source heldFrom = Source.Local, long coldAsks = -1)
    {
        NodeData d = _nodes[node];
        if (d.Has(chunk))
        {
            d.Touch(chunk);
            _bytes[(int)heldFrom] += ObjectBytes(chunk);
            if (coldAsks >= 0) CountColdRead(coldAsks);
            Served(node, ObjectBytes(chunk));
            return;
        }
        ChunkFetch f = FetchOf(node, chunk, forPeer: false);
        f.LocalReaders++;
        if (coldAsks >= 0) f.ColdReaders.Add(coldAsks);
    }

    /// <summary>A read's bytes handed to its reader: at once, or on a shared host once the node has sent them and the reader taken them.</summary>
    private void Served(int node, long bytes)
    {
        if (_cores is null)
        {
            Complete(node);
            return;
        }
        long sent = _cores.Run(_cluster.Now, _host!.NodeMicros(bytes)), taken = _cores.Run(_cluster.Now, _host.ReaderMicros(bytes));
        Enqueue(Math.Max(sent, taken), new DataEvent(DataEventKind.ReadServed, node));
    }

    private void Complete(int node)
    {
        ReadsDone++;
        _nodes[node].Reading--;
        _nodes[node].LastReadAt = _cluster.Now;
        ReadEnded(node);
    }

    /// <summary>A read that got an error from Blob: reported, and the reader goes on to its next read as an application would.</summary>
    private void Fail(int node)
    {
        ReadsFailed++;
        _nodes[node].Reading--;
        _nodes[node].Failed = true;
        ReadEnded(node);
    }

    private void ReadEnded(int node)
    {
        // A kb node's reads come at their own pace (SmallObjectRead), not one after another.
        if (_w.Kind != "kb") Enqueue(_cluster.Now, new DataEvent(DataEventKind.NextRead, node));
        if (ReadsDone + ReadsFailed == ReadsTotal)
        {
            _phase++;
            if (_phase < Phases) Enqueue(_cluster.Now, new DataEvent(DataEventKind.StartPhase));
            else _finishedAt = _cluster.Now;
        }
    }

    // ---------------------------------------------------------------- the reader's side: a route per fetch

    /// <summary>
    /// The node's fetch of a chunk, joined if one is in flight, else started. A fetch for a peer that asked this
    /// node to fill skips the region's owners: this node is one of them, asked because the others failed or were
    /// busy, and it reads for the region (pooled regions, then Blob).
    /// </summary>
    private ChunkFetch FetchOf(int node, int chunk, bool forPeer)
    {
        ChunkFetch f = _fetches.GetOrStart(node, chunk, out bool started);
        if (!started) return f;
        f.Reset(node, chunk, _chunkKeys[chunk]);
        RefreshPlacement(force: false);
        int region = _cluster.Nodes[node].Info.Region;
        // Chunks read straight from Blob (the baseline) are a route with no one to ask.
        RegionPlacement owners = forPeer || !_w.ChunksViaMesh ? RegionPlacement.Empty : _regionPlacement[region];
        f.Route = ChunkRoute.Plan(_routing, f.Key, MemberOf(node), owners, _w.ChunksViaMesh ? _pooledOf[region] : []);
        Carry(f, f.Route.Start(_cluster.Now));
        return f;
    }

    /// <summary>Carries out a route's decision: a request to a peer (with its deadline) or a Blob GET.</summary>
    private void Carry(ChunkFetch f, RouteDecision decision)
    {
        f.Ask = ++_asks;
        f.DeadlineQueued = false;
        switch (decision.Step)
        {
            case RouteStep.AskPeer:
                f.PeerAsks++;
                if (decision.Role == PeerRole.RegionOwner)
                {
                    if (f.FirstOwner < 0) f.FirstOwner = decision.Member;
                    else if (decision.Member != f.FirstOwner) OwnerRetries++;
                }
                int peer = NodeOfMember(decision.Member);
                if (peer >= 0) Enqueue(decision.NotBefore + Latency(f.Node, peer), new DataEvent(DataEventKind.Request, f.Id, f.Ask));
                else AwaitAnswer(f); // a member with no process answers nothing
                break;
            case RouteStep.ReadBlob:
                ReadBlob(f);
                break;
            default:
                throw new InvalidOperationException($"a route decided {decision.Step} before any answer");
        }
    }

    /// <summary>
    /// Schedules the ask's deadline. Only asks whose answer time is not known when they are served need one (a
    /// crashed peer, a fill): the rest answer in a latency or arrive at a known time, so millions of reads do not
    /// keep millions of deadlines queued.
    /// </summary>
    private void AwaitDeadline(ChunkFetch f) => AwaitUntil(f, f.Route.Current.Deadline);

    /// <summary>A peer that never answers (crashed, stopped) costs the answer timeout, as on the node, not the whole transfer's deadline.</summary>
    private void AwaitAnswer(ChunkFetch f) => AwaitUntil(f, _routing.AnswerBy(f.Route.Current));

    private void AwaitUntil(ChunkFetch f, long at)
    {
        if (f.DeadlineQueued) return;
        f.DeadlineQueued = true;
        Enqueue(at, new DataEvent(DataEventKind.Deadline, f.Id, f.Ask));
    }

    private void AnswerArrived(ChunkFetch f, long ask, PeerAnswer answer)
    {
        if (f.Ask != ask) return; // the route gave up on this peer already
        RouteDecision next = f.Route.OnAnswer(_cluster.Now, answer, f.Named.AsSpan(0, f.NamedCount));
        f.NamedCount = 0;
        Carry(f, next);
    }

    private void DeadlinePassed(ChunkFetch f, long ask)
    {
        if (f.Ask != ask) return;
        OwnerTimeouts++;
        Carry(f, f.Route.OnAnswer(_cluster.Now, PeerAnswer.TimedOut));
    }

    private void ChunkArrived(ChunkFetch f, long ask, int sender, Source source)
    {
        // Bytes that come after the reader gave up are dropped, as a reader that moved on closes the stream.
        if (f.Ask != ask) return;
        _nodes[sender].Recent.Add(f.Key, MemberOf(f.Node));
        f.Route.OnAnswer(_cluster.Now, PeerAnswer.Chunk);
        Finish(f, source);
    }

    /// <summary>The node now holds the chunk: its own reads finish, and the peers that asked it to fill are answered.</summary>
    private void Finish(ChunkFetch f, Source how)
    {
        NodeData d = _nodes[f.Node];
        f.Ask = 0; // whatever of this fetch is still queued (a deadline, a late transfer) is stale now
        Evictions += d.Add(f.Chunk);
        foreach (long asked in f.ColdReaders) CountColdRead(asked + f.PeerAsks);
        for (int i = 0; i < f.LocalReaders; i++)
        {
            _bytes[(int)how] += ObjectBytes(f.Chunk);
            Served(f.Node, ObjectBytes(f.Chunk));
        }
        if (_cluster.Nodes[f.Node].IsRunning)
        {
            foreach ((int lookup, long ask) in f.MetadataRequesters)
            {
                if (_lookups[lookup].Ask == ask) SendWithProperties(f.Node, _lookups[lookup], ask, f.Chunk);
            }
        }
        f.MetadataRequesters.Clear();
        // The requesters' bytes came from Blob (or another region) just now, through this node.
        foreach ((int requester, long ask) in f.Requesters)
        {
            ChunkFetch r = _fetches[requester];
            if (r.Ask == ask && _cluster.Nodes[f.Node].IsRunning) Serve(f.Node, r, how);
        }
        f.Requesters.Clear();
        _fetches.Release(f.Node, f.Chunk, f.Id);
    }

    // ---------------------------------------------------------------- the origin: range reads and properties, throttled

    /// <summary>A range GET of the fetch's chunk; a refusal comes back after the origin's latency.</summary>
    private void ReadBlob(ChunkFetch f)
    {
        int file = FileOf(f.Chunk);
        long bytes = ObjectBytes(f.Chunk);
        OriginVerdict verdict = _origin.Request(_cluster.Now, OriginRequestKind.GetRange, _fileKeys[file], f.Key, RegionOf(f.Node), bytes);
        if (verdict == OriginVerdict.Served)
        {
            BlobGets++;
            long took = _cluster.Now + (bytes == _chunkBytes ? _blobMicros : _originLatencyMicros + TransferMicros(bytes, _w.BlobGbps));
            // On a shared host the node's CPU takes the bytes in once the origin's thread has sent them.
            if (_cores is not null) took = Math.Max(took, _cores.Run(OriginAnsweredAt(bytes), _host!.NodeMicros(bytes)));
            Enqueue(took, new DataEvent(DataEventKind.BlobDone, f.Id, f.Ask));
        }
        else Enqueue(OriginAnsweredAt(bytes: 0), new DataEvent(DataEventKind.BlobRefused, f.Id, f.Ask));
    }

    /// <summary>
    /// When the origin's answer of <paramref name="bytes"/> is out: its latency on; on a shared host also its one
    /// thread, which takes requests one after another, each on a core it shares with the nodes and readers.
    /// </summary>
    private long OriginAnsweredAt(long bytes)
    {
        long at = _cluster.Now + _originLatencyMicros;
        if (_cores is null) return at;
        _originFreeAt = _cores.Run(Math.Max(_cluster.Now, _originFreeAt), _host!.OriginMicros(bytes));
        return Math.Max(at, _originFreeAt);
    }

    private void BlobRefused(ChunkFetch f, long ask)
    {
        if (f.Ask != ask) return;
        if (BackOff(ref f.OriginRetries) is long at) Enqueue(at, new DataEvent(DataEventKind.BlobRetry, f.Id, f.Ask));
        else Abandon(f);
    }

    /// <summary>When a request Blob refused is sent again, as the node's Blob client decides; null once its retries are spent.</summary>
    private long? BackOff(ref int retries) =>
        ++retries > _backoff.MaxRetries ? null : _cluster.Now + _backoff.DelayMicros(retries, SimulatedOrigin.Jitter(_random));

    /// <summary>
    /// Blob refused the chunk more often than the node retries: the node's own reads of it fail; peers that asked it
    /// to fill are told at once ("origin failed", as the node's owner answers) and go on to their next place.
    /// </summary>
    private void Abandon(ChunkFetch f)
    {
        f.Ask = 0;
        _fetches.Release(f.Node, f.Chunk, f.Id);
        for (int i = 0; i < f.LocalReaders; i++) Fail(f.Node);
        foreach ((int requester, long ask) in f.Requesters)
            Enqueue(_cluster.Now + Latency(f.Node, _fetches[requester].Node), new DataEvent(DataEventKind.Answer, requester, ask, Answer: PeerAnswer.Failed));
        f.Requesters.Clear();
        // The properties still go, without the bytes (the asker reads the chunk itself).
        foreach ((int lookup, long ask) in f.MetadataRequesters)
        {
            MetadataLookup l = _lookups[lookup];
            if (l.Ask == ask) Answer(f.Node, l, ask, l.AnswerFetchedAt);
        }
        f.MetadataRequesters.Clear();
    }

    /// <summary>How long <paramref name="bytes"/> take at <paramref name="gbps"/>.</summary>
    private static long TransferMicros(long bytes, double gbps) => (long)(bytes * 8 / (gbps * 1e9) * Micros.PerSecond);

    private int FileOf(int chunk) => (int)((long)chunk * _w.Files / _w.Chunks);

    /// <summary>The chunk's own key, which fixes a kb object's size (its placement key may be its file's).</summary>
    private ulong ChunkHash(int chunk) => StableHash.ChunkKey(_fileKeys[FileOf(chunk)], chunk - FirstChunkOf(FileOf(chunk)));

    private int ChunksOf(int file) => (file + 1 == _w.Files ? _w.Chunks : FirstChunkOf(file + 1)) - FirstChunkOf(file);

    /// <summary>A file's length: a kb object's size, else its chunks of the workload's chunk size.</summary>
    private long FileBytes(int file) => _w.Kind == "kb" ? ObjectBytes(FirstChunkOf(file)) : ChunksOf(file) * _chunkBytes;

    private int FirstChunkOf(int file) => (int)(((long)file * _w.Chunks + _w.Files - 1) / _w.Files);

    private int RegionOf(int node) => _cluster.Nodes[node].Info.Region;

    // ---------------------------------------------------------------- the peer's side: the node's owner policy

    private void RequestArrived(ChunkFetch f, long ask)
    {
        if (f.Ask != ask) return;
        int peer = NodeOfMember(f.Route.Current.Member);
        if (!_cluster.Nodes[peer].IsRunning)
        {
            AwaitAnswer(f);
            return;
        }
        Serve(peer, f, f.Route.Current.Role == PeerRole.PooledOwner ? Source.PeerRemoteRegion : Source.Peer);
    }

    private void Serve(int peer, ChunkFetch f, Source source)
    {
        NodeData p = NodeOf(peer);
        RouteDecision asked = f.Route.Current;
        switch (OwnerPolicy.Decide(p.Has(f.Chunk), asked.Fill, p.Sending, _w.OwnerConcurrency))
        {
            case OwnerAction.Send:
                p.Touch(f.Chunk);
                if (asked.Role == PeerRole.Holder) ServedByHolders++;
                Transfer(peer, f, source);
                break;
            case OwnerAction.Busy:
                BusyAnswers++;
                f.NamedCount = p.CopyHolders(f.Key, f.Named.AsSpan(0, NamedPerBusyAnswer), exclude: MemberOf(f.Node));
                if (f.NamedCount > 0) Handoffs++;
                Enqueue(_cluster.Now + Latency(peer, f.Node), new DataEvent(DataEventKind.Answer, f.Id, f.Ask, Answer: PeerAnswer.Busy));
                break;
            case OwnerAction.NotHere:
                Enqueue(_cluster.Now + Latency(peer, f.Node), new DataEvent(DataEventKind.Answer, f.Id, f.Ask, Answer: PeerAnswer.NotHere));
                break;
            case OwnerAction.Fill:
                AwaitDeadline(f);
                FetchOf(peer, f.Chunk, forPeer: true).Requesters.Add((f.Id, f.Ask));
                break;
        }
    }

    /// <summary>
    /// Moves one chunk: the sender's NIC sends its queue one chunk at a time (size/bandwidth each), the receiver's
    /// NIC takes one at a time too, and the bytes arrive a latency later. The two queues are separate, so a busy
    /// receiver never holds a sender's NIC idle.
    /// </summary>
    private void Transfer(int from, ChunkFetch f, Source source)
    {
        long arrival = Send(from, f.Node, ObjectBytes(f.Chunk));
        // A transfer that would finish past the ask's deadline is one the reader gives up on.
        if (arrival <= f.Route.Current.Deadline) Enqueue(arrival, new DataEvent(DataEventKind.Arrive, f.Id, f.Ask, from, source));
        else AwaitDeadline(f);
    }

    /// <summary>Queues <paramref name="bytes"/> on both NICs (see <see cref="Transfer"/>); when they arrive.</summary>
    private long Send(int from, int to, long bytes)
    {
        NodeData s = _nodes[from], r = _nodes[to];
        long transfer = bytes == _chunkBytes ? _transferMicros : TransferMicros(bytes, _w.NicGbps);
        long sent = Math.Max(_cluster.Now, s.EgressFree) + transfer;
        s.EgressFree = sent;
        r.IngressFree = Math.Max(r.IngressFree + transfer, sent);
        s.Sending++;
        MaxOwnerConcurrency = Math.Max(MaxOwnerConcurrency, s.Sending);
        long arrival = r.IngressFree + Latency(from, to);
        if (_cores is not null)
        {
            // On a shared host each end spends its CPU on the bytes before they are in. The sender's slot stays the
            // network send's: a socket write completes once the kernel holds the bytes.
            long sentCpu = _cores.Run(_cluster.Now, _host!.NodeMicros(bytes)), takenCpu = _cores.Run(_cluster.Now, _host.NodeMicros(bytes));
            arrival = Math.Max(arrival, Math.Max(sentCpu, takenCpu));
        }
        Enqueue(sent, new DataEvent(DataEventKind.SendDone, Peer: from));
        return arrival;
    }

    // ---------------------------------------------------------------- placement

    private long Latency(int from, int to) => _cluster.Network.Latency(_cluster.Nodes[from].Info, _cluster.Nodes[to].Info, _random);

    private int MemberOf(int node) => _cluster.Nodes[node].Swim.Self;

    private int NodeOfMember(int member) => member >= 0 && member < _memberToNode.Length ? _memberToNode[member] : -1;

    private NodeData NodeOf(int node) => _nodes[node] ??= new NodeData(_w.Chunks, _w.CacheChunks);

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
        _regionPlacement = new RegionPlacement[_regions];
        for (int r = 0; r < _regions; r++) _regionPlacement[r] = _placement.ForRegion($"region-{r}");
        // Only the pooled workload pools regions, as a node does only with --pooled-regions.
        _pooledOf = new RegionPlacement[_regions][];
        for (int r = 0; r < _regions; r++)
            _pooledOf[r] = _w.Kind == "pooled" ? [.. _regionPlacement.Where((_, other) => other != r)] : [];
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
            BusyAnswers = BusyAnswers,
            Handoffs = Handoffs,
            ServedByHolders = ServedByHolders,
            OwnerTimeouts = OwnerTimeouts,
            OwnerRetries = OwnerRetries,
            Evictions = Evictions,
            CacheChunks = _w.CacheChunks,
            ReadsDone = ReadsDone,
            ReadsTotal = ReadsTotal,
            ReadsFailed = ReadsFailed,
            ListPagesFailed = ListPagesFailed,
            TimeToAllBytes = TimeToAllBytes(),
            CompletionSeconds = _finishedAt < 0 ? -1 : Micros.ToSeconds(_finishedAt - _start),
            HostCoresBusy = _cores is null || _finishedAt <= _start ? double.NaN : _cores.BusyMicros / (double)(_finishedAt - _start),
            IdealSeconds = idealSeconds,
            MetadataViaMesh = _metadata.Enabled,
            MetadataPeerRequests = MetadataPeerRequests,
            MetadataTimeouts = MetadataTimeouts,
            MetadataMaxRequestsPerSecondAtOneNode = MetadataMaxRequestsPerSecondAtOneNode,
            MetadataMaxAgeSeconds = Micros.ToSeconds(MetadataMaxAgeMicros),
            ColdReads = ColdReads,
            PeerRequestsPerColdRead = ColdReadsViaPeers == 0 ? 0 : ColdReadPeerRequests / (double)ColdReadsViaPeers,
            MaxPeerRequestsPerColdRead = ColdReadMaxPeerRequests,
        };
    }

    /// <summary>Where a node's cursor stands once it has started all its reads: its shard's end, or (kb) its count of reads.</summary>
    private int ReadsEnd(NodeData d) => _w.Kind == "kb" ? KbReadsPerNode : d.End;

    /// <summary>
    /// Per reading node, seconds from the start of reading until it had all its bytes; nodes with a failed read, or
    /// still reading at the end of the run, never had them and are left out (see <see cref="ReadsFailed"/>).
    /// </summary>
    private Percentiles TimeToAllBytes()
    {
        var seconds = new List<double>();
        foreach (NodeData? d in _nodes)
            if (d is { LastReadAt: >= 0, Failed: false, Reading: 0 } && d.Position >= ReadsEnd(d)) seconds.Add(Micros.ToSeconds(d.LastReadAt - _start));
        seconds.Sort();
        return Percentiles.Of(seconds);
    }

    public OriginReport OriginReport() => _origin.Report();

    private enum DataEventKind : byte { StartPhase, NextRead, Request, Answer, Deadline, Arrive, BlobDone, SendDone, BlobRefused, BlobRetry, HeadServed, HeadRefused, HeadRetry, ReadAfterHead, MetadataRequest, MetadataAnswered, MetadataRefused, MetadataDeadline, ListNext, SmallObjectRead, MetadataAnsweredWithContent, ReadServed }

    /// <summary>
    /// An event of the data plane: <paramref name="Subject"/> is a node (NextRead) or a fetch, <paramref name="Ask"/> the fetch's ask it belongs to
    /// (of a ReadAfterHead: 1 + the peer requests a cold read's properties cost, 0 for a read that held them or its bytes).
    /// </summary>
    private readonly record struct DataEvent(DataEventKind Kind, int Subject = 0, long Ask = 0, int Peer = 0, Source Source = Source.Local, PeerAnswer Answer = PeerAnswer.Chunk);

    /// <summary>Where a read's bytes came from, from the reader's point of view: own cache, a peer in its region, another region, or Blob.</summary>
    public enum Source : byte { Local, Peer, PeerRemoteRegion, Blob }
}
