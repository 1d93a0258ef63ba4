using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using BlobCache.Mesh;
using BlobCache.Mesh.Origin;
using BlobCache.Mesh.Reading;

namespace BlobCache.Sim.Scenarios;

/// <summary>
/// What a simulation run does, as read from a scenario file (sim/scenarios/NAME.json): how many nodes in how many
/// regions, how they start, what happens to them and when, and what they read. Command-line flags override the
/// size, seed and duration.
/// </summary>
public sealed record Scenario
{
    public required string Name { get; init; }
    public string Description { get; init; } = "";
    public int Nodes { get; init; } = 1000;
    public int Regions { get; init; } = 1;
    public int ZonesPerRegion { get; init; } = 3;
    /// <summary>Virtual seconds to run.</summary>
    public double Duration { get; init; } = 60;
    /// <summary>
    /// "converged" starts every node already knowing every other; "join" has them join through one seed, one after
    /// another; "fleet" starts them over <see cref="StartSeconds"/> (shaped by <see cref="StartShape"/>), each
    /// joining through the <see cref="SeedsPerRegion"/> seeds of its region, as a deployment of a whole fleet does.
    /// </summary>
    public string Bootstrap { get; init; } = "converged";
    /// <summary>Fleet start: the seconds over which the nodes start.</summary>
    public double StartSeconds { get; init; } = 60;
    /// <summary>Fleet start: "uniform" (evenly over the window) or "burst" (six waves, each a sixth of the nodes within one second, ten seconds apart).</summary>
    public string StartShape { get; init; } = "uniform";
    /// <summary>Fleet start: seeds per region, started first; every other node joins through its region's.</summary>
    public int SeedsPerRegion { get; init; } = 3;
    public bool Lifeguard { get; init; } = true;
    /// <summary>"gossip": suspicions spread to every member (SWIM); "accuser": they stay with the accusers; "auto": gossip in meshes under 2,000 (see <c>MeshConfig.Suspicions</c>).</summary>
    public string Suspicions { get; init; } = "auto";
    public List<ScenarioStep> Steps { get; init; } = [];
    public DataWorkload? Workload { get; init; }

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>Names of the scenarios built into the simulator.</summary>
    public static IReadOnlyList<string> BuiltIn { get; } = typeof(Scenario).Assembly.GetManifestResourceNames()
        .Where(n => n.StartsWith("scenarios/", StringComparison.Ordinal))
        .Select(n => n["scenarios/".Length..^".json".Length]).Order(StringComparer.Ordinal).ToArray();

    /// <summary>Loads a built-in scenario by name, or a scenario file by path. Throws <see cref="ArgumentException"/> with a clear message.</summary>
    public static Scenario Load(string nameOrPath)
    {
        string text;
        if (File.Exists(nameOrPath))
        {
            try
            {
                text = File.ReadAllText(nameOrPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ArgumentException($"cannot read scenario file '{nameOrPath}': {e.Message}");
            }
        }
        else
        {
            using Stream? stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"scenarios/{nameOrPath}.json");
            if (stream is null)
                throw new ArgumentException($"no scenario '{nameOrPath}': not a file, and the built-in ones are {string.Join(", ", BuiltIn)}");
            text = new StreamReader(stream).ReadToEnd();
        }
        Scenario scenario;
        try
        {
            scenario = JsonSerializer.Deserialize<Scenario>(text, Json) ?? throw new ArgumentException($"scenario '{nameOrPath}' is empty");
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"scenario '{nameOrPath}' is not valid: {e.Message}");
        }
        scenario.Validate();
        return scenario;
    }

    public void Validate()
    {
        static void Check(bool ok, string message)
        {
            if (!ok) throw new ArgumentException(message);
        }
        Check(Nodes is >= 2 and <= 1_000_000, $"nodes must be 2..1000000, got {Nodes}");
        Check(Regions is >= 1 and <= 16 && Regions <= Nodes, $"regions must be 1..16 and at most nodes, got {Regions}");
        Check(ZonesPerRegion is >= 1 and <= 16, $"zones_per_region must be 1..16, got {ZonesPerRegion}");
        Check(Duration is > 0 and <= 86_400, $"duration must be 0..86400 seconds, got {Duration}");
        Check(Bootstrap is "converged" or "join" or "fleet", $"bootstrap must be 'converged', 'join' or 'fleet', got '{Bootstrap}'");
        if (Bootstrap == "fleet")
        {
            Check(StartSeconds is > 0 and <= 3_600 && StartSeconds < Duration, $"start_seconds must be 0..3600 and within the run, got {StartSeconds}");
            Check(StartShape is "uniform" or "burst", $"start_shape must be 'uniform' or 'burst', got '{StartShape}'");
            Check(SeedsPerRegion >= 1 && SeedsPerRegion * Regions < Nodes, $"seeds_per_region must be at least 1, and all seeds fewer than the nodes, got {SeedsPerRegion}");
        }
        Check(Suspicions is "auto" or "gossip" or "accuser", $"suspicions must be 'auto', 'gossip' or 'accuser', got '{Suspicions}'");
        foreach (ScenarioStep step in Steps) step.Validate(this);
        Workload?.Validate();
    }
}

/// <summary>One thing that happens during a run. Which fields matter depends on <see cref="Action"/>.</summary>
public sealed record ScenarioStep
{
    /// <summary>Virtual second at which the step starts.</summary>
    public double At { get; init; }
    /// <summary>crash, leave, join, restart, partition, heal, loss, stall, churn.</summary>
    public required string Action { get; init; }
    /// <summary>Share of the nodes the step applies to (crash, leave, restart, stall, churn per second).</summary>
    public double Fraction { get; init; }
    /// <summary>A fixed number of nodes instead of a fraction (crash, leave, join).</summary>
    public int Count { get; init; }
    /// <summary>Region to cut off (partition).</summary>
    public int Region { get; init; }
    /// <summary>Packet loss probability (loss).</summary>
    public double Value { get; init; }
    /// <summary>Until when a continuing step runs (stall, churn, restart), in virtual seconds.</summary>
    public double Until { get; init; }
    /// <summary>Cycle length of stalls, and how long each stall lasts (stall); batch interval (restart).</summary>
    public double Period { get; init; } = 2.5;
    public double Stall { get; init; } = 1.5;

    private static readonly string[] Actions = ["crash", "leave", "join", "restart", "partition", "heal", "loss", "stall", "churn"];

    public void Validate(Scenario scenario)
    {
        void Check(bool ok, string message)
        {
            if (!ok) throw new ArgumentException($"step '{Action}' at {At}s: {message}");
        }
        Check(Actions.Contains(Action), $"unknown action; use one of {string.Join(", ", Actions)}");
        Check(At >= 0 && At <= scenario.Duration, "at must lie within the run");
        Check(Fraction is >= 0 and <= 1, "fraction must be 0..1");
        Check(Count >= 0, "count must not be negative");
        Check(Value is >= 0 and <= 0.9, "value (loss) must be 0..0.9");
        Check(Region >= 0 && Region < scenario.Regions, $"region must be 0..{scenario.Regions - 1}");
        Check(Period > 0 && Stall >= 0 && Stall < Period, "stall must be shorter than period");
        if (Action is "stall" or "churn" or "restart") Check(Until > At, "until must come after at");
    }
}

/// <summary>Chunks that nodes read through the mesh.</summary>
public sealed record DataWorkload
{
    /// <summary>
    /// epoch (each node reads its shards, twice, reshuffled), stampede (every node reads the same model), pooled (one
    /// region re-reads what another cached), job-start (each node lists the dataset's <see cref="ListPages"/> pages
    /// in order, then reads its shard once), kb (each node reads small objects, one chunk each, drawn with Zipf
    /// popularity, <see cref="ReadsPerSecond"/> for <see cref="ReadSeconds"/>).
    /// </summary>
    public required string Kind { get; init; }
    /// <summary>Virtual second at which reading starts.</summary>
    public double Start { get; init; } = 1;
    /// <summary>Chunks in the dataset (epoch, pooled) or the model (stampede).</summary>
    public int Chunks { get; init; } = 4096;
    public int ChunkMib { get; init; } = 4;
    /// <summary>NIC bandwidth of every node, gigabits per second.</summary>
    public double NicGbps { get; init; } = 25;
    /// <summary>Bandwidth of one Blob GET, gigabits per second, and its first-byte latency.</summary>
    public double BlobGbps { get; init; } = 0.5;
    public double BlobLatencyMs { get; init; } = 30;
    /// <summary>Most transfers a node sends at once (the routing's <c>maxSending</c>); later requesters hear "busy" and the holders it last sent to.</summary>
    public int OwnerConcurrency { get; init; } = 8;
    /// <summary>How long a reader waits for one peer to answer, the node's <c>--peer-timeout-ms</c> default: what a crashed peer costs.</summary>
    public int PeerTimeoutMs { get; init; } = 2000;
    /// <summary>How long a peer that answered may take to deliver the chunk, the node's <c>--peer-transfer-timeout-ms</c> default.</summary>
    public int PeerTransferTimeoutMs { get; init; } = 60_000;
    /// <summary>Chunks each node reads at once.</summary>
    public int ReaderConcurrency { get; init; } = 8;
    /// <summary>Chunks each node's cache holds; past that it evicts the least recently used (CLOCK). 0: unbounded.</summary>
    public int CacheChunks { get; init; }
    /// <summary>Blobs the chunks are split into, in order (each file a contiguous run of chunks): what a HEAD and the per-blob limit apply to.</summary>
    public int Files { get; init; } = 1;
    /// <summary>How long a node trusts a blob's properties before asking Blob again, the node's <c>--metadata-ttl-seconds</c> default; 0 = a HEAD before every read.</summary>
    public double MetadataTtlSeconds { get; init; } = 5;
    /// <summary>
    /// True: a node asks a blob's properties of the key's owner in its region (through a deputy in regions of more
    /// than 256), which asks Blob once per TTL for all of them (<see cref="MetadataRoute"/>), as the node does. False:
    /// every node asks Blob itself, the baseline the mesh is compared with.
    /// </summary>
    public bool MetadataViaMesh { get; init; } = true;
    /// <summary>
    /// True: a chunk a node does not hold is asked of its owners in the region first (<see cref="ChunkRoute"/>).
    /// False: every node reads its chunks straight from Blob, the baseline with no cache at all.
    /// </summary>
    public bool ChunksViaMesh { get; init; } = true;
    /// <summary>job-start: pages of the dataset's listing (5,000 files each in List Blobs) every node reads before its shard.</summary>
    public int ListPages { get; init; }
    /// <summary>job-start: files (one chunk each) in each node's shard, by its index in the region.</summary>
    public int ShardFiles { get; init; } = 1;
    /// <summary>kb: reads each node starts per second, at a steady pace, and for how many seconds.</summary>
    public double ReadsPerSecond { get; init; } = 10;
    public double ReadSeconds { get; init; } = 120;
    /// <summary>kb: the exponent s of the objects' Zipf popularity (object of rank i is read in proportion to 1/i^s).</summary>
    public double ZipfExponent { get; init; } = 1;
    /// <summary>kb: object sizes, powers of two from the least to the most, in KiB, each object one chunk (0: every chunk <see cref="ChunkMib"/>).</summary>
    public int ObjectKibMin { get; init; } = 4;
    public int ObjectKibMax { get; init; }
    /// <summary>The storage account's limits (defaults: Azure's published targets; 0 = unlimited).</summary>
    public OriginLimits Origin { get; init; } = OriginLimits.Azure;
    /// <summary>
    /// One machine under every node, the origin and the readers (a calibration run on loopback), with the CPU each
    /// costs. Absent: every node has a machine of its own, and only networks and Blob take time.
    /// </summary>
    public SharedHost? Host { get; init; }

    public void Validate()
    {
        static void Check(bool ok, string message)
        {
            if (!ok) throw new ArgumentException($"workload: {message}");
        }
        Check(Kind is "epoch" or "stampede" or "pooled" or "job-start" or "kb", $"kind must be epoch, stampede, pooled, job-start or kb, got '{Kind}'");
        Check(Chunks is >= 1 and <= 10_000_000, "chunks must be 1..10000000");
        Check(ChunkMib is >= 1 and <= 256, "chunk_mib must be 1..256");
        Check(NicGbps > 0 && BlobGbps > 0 && BlobLatencyMs >= 0, "bandwidths must be positive");
        Check(OwnerConcurrency >= 1 && ReaderConcurrency >= 1, "concurrency limits must be at least 1");
        Check(Start >= 0, "start must not be negative");
        Check(CacheChunks >= 0, "cache_chunks must be 0 (unbounded) or more");
        Check(PeerTimeoutMs >= 1, "peer_timeout_ms must be at least 1");
        Check(PeerTransferTimeoutMs >= PeerTimeoutMs, "peer_transfer_timeout_ms must be at least peer_timeout_ms");
        Check(Files >= 1 && Files <= Chunks, "files must be 1..chunks");
        Check(MetadataTtlSeconds is >= 0 and <= 3_600, "metadata_ttl_seconds must be 0..3600");
        Check(ListPages is >= 0 and <= 100_000 && (ListPages == 0 || Kind == "job-start"), "list_pages must be 0..100000, and only job-start lists");
        Check(ShardFiles >= 1, "shard_files must be at least 1");
        if (Kind == "job-start") Check(Files == Chunks, "job-start: every file is one chunk, so files must equal chunks");
        if (Kind == "kb")
        {
            Check(Files == Chunks, "kb: every object is one chunk, so files must equal chunks");
            Check(ReadsPerSecond is > 0 and <= 10_000 && ReadSeconds is > 0 and <= 86_400 && ReadsPerSecond * ReadSeconds <= 1_000_000, "kb: reads_per_second and read_seconds must be positive, at most 1,000,000 reads per node");
            Check(ZipfExponent is >= 0 and <= 4, "kb: zipf_exponent must be 0..4");
        }
        if (ObjectKibMax != 0)
            Check(ObjectKibMin >= 1 && ObjectKibMax >= ObjectKibMin && ((long)ObjectKibMax << 10) <= (long)ChunkMib << 20
                  && System.Numerics.BitOperations.IsPow2(ObjectKibMax / ObjectKibMin) && ObjectKibMax % ObjectKibMin == 0,
                "object_kib_min..object_kib_max must be a power-of-two range within one chunk");
        Host?.Validate();
        try
        {
            Origin.Validate();
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new ArgumentException($"workload: origin: {e.Message}");
        }
    }

    /// <summary>The node's read routing (its defaults, as the node's options leave them) with this workload's peer timeouts.</summary>
    public ReadRouting Routing() => new()
    {
        AnswerTimeoutMicros = PeerTimeoutMs * Micros.PerMillisecond, PeerDeadlineMicros = PeerTransferTimeoutMs * (long)Micros.PerMillisecond,
    };

    /// <summary>The node's metadata routing with this workload's peer timeout: off when the workload reads Blob directly or trusts no answer (TTL 0).</summary>
    public MetadataRouting Metadata() => new()
    {
        Enabled = MetadataViaMesh && MetadataTtlSeconds > 0,
        PeerDeadlineMicros = PeerTimeoutMs * Micros.PerMillisecond,
    };
}

/// <summary>
/// What a workload costs the CPU of one shared machine (<see cref="DataWorkload.Host"/>), from measurements of the
/// real processes on it (docs/simulator.md, calibration). The origin is one thread, as the emulator is: its
/// requests take their CPU one after another.
/// </summary>
public sealed record SharedHost
{
    public int Cores { get; init; } = 2;
    /// <summary>The origin's CPU per request, whatever it sends, and per MiB it sends.</summary>
    public double OriginRequestMs { get; init; }
    public double OriginMsPerMib { get; init; }
    /// <summary>
    /// A node's CPU per request it handles and per MiB it moves: a chunk received from Blob or a peer, sent to a peer,
    /// served to its reader (each end of a transfer counted at its own node).
    /// </summary>
    public double NodeRequestMs { get; init; }
    public double NodeMsPerMib { get; init; }
    /// <summary>The reading client's CPU per MiB it receives from its node.</summary>
    public double ReaderMsPerMib { get; init; }

    public void Validate()
    {
        if (Cores is < 1 or > 1024) throw new ArgumentException("workload: host: cores must be 1..1024");
        if (OriginRequestMs < 0 || OriginMsPerMib < 0 || NodeRequestMs < 0 || NodeMsPerMib < 0 || ReaderMsPerMib < 0)
            throw new ArgumentException("workload: host: CPU costs must not be negative");
    }

    public long OriginMicros(long bytes) => Ms(OriginRequestMs + OriginMsPerMib * bytes / 1048576.0);

    public long NodeMicros(long bytes) => Ms(NodeRequestMs + NodeMsPerMib * bytes / 1048576.0);

    public long ReaderMicros(long bytes) => Ms(ReaderMsPerMib * bytes / 1048576.0);

    private static long Ms(double milliseconds) => (long)Math.Round(milliseconds * Micros.PerMillisecond);
}
