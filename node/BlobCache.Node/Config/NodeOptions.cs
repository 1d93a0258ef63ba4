namespace BlobCache.Node.Config;

/// <summary>Which transport carries chunks between peers.</summary>
public enum PeerTransport { Grpc, Udp, Tcp }

/// <summary>What serves the local endpoint: the event-loop server (Linux) or Kestrel.</summary>
public enum HttpServerKind { Loop, Kestrel }

/// <summary>
/// Every setting of a node, with its default. Each can come from a flag (<c>--http-port</c>), an environment
/// variable (<c>BLOBCACHE_HTTP_PORT</c>) or a JSON config file (<c>"http_port"</c>); flags win over the
/// environment, which wins over the file.
/// </summary>
public sealed record NodeOptions
{
    /// <summary>Azurite's well-known development account, so a node started with no flags has an origin.</summary>
    public static readonly string DevelopmentOrigin = BlobCache.Node.Origin.LocalAzurite.ConnectionString(10000);

    public string NodeId { get; init; } = Environment.MachineName + "-" + Environment.ProcessId;
    public string Region { get; init; } = "local";
    public string Zone { get; init; } = "local-1";
    /// <summary>Address the local endpoint (and gRPC, gossip) bind to. Loopback by default.</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>Address peers use to reach this node; the bind address unless it is a wildcard.</summary>
    public string? AdvertiseHost { get; init; }
    public int HttpPort { get; init; } = 7480;
    public int GrpcPort { get; init; } = 7481;
    /// <summary>Membership gossip: datagrams on this UDP port, state transfers (joins, push-pull) on the same TCP port.</summary>
    public int GossipPort { get; init; } = 7946;
    /// <summary>
    /// Ports peers use to reach this node's gossip and gRPC/framed-TCP ports when something between them forwards
    /// from other ports (a NAT, a host port mapping, a test's network relay); null: the ports bound.
    /// </summary>
    public int? AdvertiseGossipPort { get; init; }
    public int? AdvertiseGrpcPort { get; init; }
    /// <summary>Largest state transfer accepted, MiB (compressed or not); a member costs about 20–110 bytes.</summary>
    public int GossipStreamMaxMb { get; init; } = 32;
    /// <summary>UDP port of the LiteNetLib chunk transport.</summary>
    public int UdpPort { get; init; } = 7482;
    /// <summary>Serve the UDP chunk transport even when this node fetches over another (see <see cref="ServesUdp"/>).</summary>
    public bool UdpServe { get; init; }

    /// <summary>
    /// Whether the LiteNetLib UDP server runs: only when asked for (<c>--udp-serve</c>) or when this node fetches over
    /// UDP itself. No measured figure has it beating framed TCP, and its logic thread wakes even when idle.
    /// </summary>
    public bool ServesUdp => UdpServe || PeerTransport == PeerTransport.Udp;
    public IReadOnlyList<string> Seeds { get; init; } = [];
    /// <summary>
    /// Who hears of a suspicion: every member (gossip: SWIM, Lifeguard), only the accusers and the suspect
    /// (accuser: only deaths and refutations are gossiped, far less traffic when many members fail at once in a
    /// mesh of tens of thousands), or gossip under 2,000 members and accuser from there on (auto, the default).
    /// See <c>MeshConfig.Suspicions</c>.
    /// </summary>
    public BlobCache.Mesh.SuspicionSpread Suspicions { get; init; } = BlobCache.Mesh.SuspicionSpread.Auto;
    public string Origin { get; init; } = DevelopmentOrigin;
    public string? CacheDir { get; init; }
    public int MemoryMb { get; init; } = 1024;
    public int DiskMb { get; init; } = 10240;
    public int ChunkSizeMb { get; init; } = 4;
    public double MetadataTtlSeconds { get; init; } = 5;
    /// <summary>Blob properties from the key's owner in the region before Blob (<see cref="Mesh.Reading.MetadataRoute"/>); off, or a TTL of 0, asks Blob every time.</summary>
    public bool MetadataViaMesh { get; init; } = true;
    public int MetadataMembersPerOwner { get; init; } = 256;
    public int MetadataPeerTimeoutMs { get; init; } = 2000;
    public IReadOnlyList<string> PooledRegions { get; init; } = [];
    /// <summary>Account names the endpoint also answers for, served from the origin's account (same cache).</summary>
    public IReadOnlyList<string> AccountAliases { get; init; } = [];
    public PeerTransport PeerTransport { get; init; } = PeerTransport.Tcp;
    /// <summary>How long a peer has to answer a chunk request; a dead or hung peer costs this, then the next owner, then Blob.</summary>
    public int PeerTimeoutMs { get; init; } = 2000;
    /// <summary>How long a peer that answered may take to deliver the chunk (it may be filling it from Blob).</summary>
    public int PeerTransferTimeoutMs { get; init; } = 60_000;
    /// <summary>Retries of a failed or timed-out Blob request (exponential backoff from 100 ms, at most 2 s apart).</summary>
    public int OriginRetries { get; init; } = 4;
    /// <summary>How long one Blob request (or one read of its body) may take before it is retried; with
    /// <see cref="OriginRetries"/> it bounds how long a reader waits for an unresponsive Blob.</summary>
    public int OriginTimeoutMs { get; init; } = 30_000;
    /// <summary>Chunks fetched ahead of a sequential reader, in parallel (one ranged GET each when they come from Blob).</summary>
    public int ReadAheadChunks { get; init; } = 4;
    /// <summary>How many owners in the region are tried before Blob.</summary>
    public int OwnersToTry { get; init; } = 2;
    /// <summary>How many times a reader asks a busy owner again, after 50 ms and doubling, once the holders it named are tried.</summary>
    public int PeerBusyRetries { get; init; } = 3;
    public int Weight { get; init; } = 100;
    /// <summary>Start without peer security material: what is missing (keyring, TLS files) runs in plain text. Local development only.</summary>
    public bool Insecure { get; init; }
    /// <summary>The mesh keyring: base64 32-byte keys, one per line, the first the primary; re-read when it changes.</summary>
    public string? GossipKeyFile { get; init; }
    /// <summary>gRPC peer mutual TLS: this node's certificate, its key, and the mesh CA bundle (PEM files; all or none).</summary>
    public string? TlsCert { get; init; }
    public string? TlsKey { get; init; }
    public string? TlsCa { get; init; }
    /// <summary>Bearer tokens the local endpoint accepts, one a line; required when it binds a non-loopback address.</summary>
    public string? EndpointTokenFile { get; init; }
    /// <summary>Require the endpoint token even on loopback (tests; nodes sharing a host with untrusted processes).</summary>
    public bool RequireEndpointAuth { get; init; }
    /// <summary><c>account/container</c> or <c>account/*</c> entries the local endpoint serves; empty: everything.</summary>
    public IReadOnlyList<string> AllowedContainers { get; init; } = [];
    /// <summary>Peer requests served at once (gRPC and UDP together); more are refused at once, and the requester moves on.</summary>
    public int MaxPeerRequests { get; init; } = 512;
    /// <summary>
    /// Chunks this node sends to peers at once (every transport together). A request for a held chunk past it is
    /// answered "busy" with up to four members this node last sent the chunk to, and the requester asks them: a
    /// stampede on one chunk fans out as a tree of copies, and the owner's transfers stay bounded.
    /// </summary>
    public int MaxPeerSends { get; init; } = 8;
    /// <summary>Peer requests a second accepted from one address; 0: no limit.</summary>
    public int PeerRateLimit { get; init; } = 2000;
    /// <summary>
    /// Run Kestrel's request handling on its socket threads instead of hopping to the thread pool. Kestrel serves the
    /// gRPC port, and the endpoint only under <c>--http-server kestrel</c>; the default endpoint server already runs
    /// each request on the thread that read it.
    /// </summary>
    public bool InlineIo { get; init; }
    /// <summary>
    /// The local endpoint's server: <c>loop</c> (event loops on epoll, each request run on the thread that read it;
    /// Linux only, the default there) or <c>kestrel</c>. The gRPC port is always Kestrel's.
    /// </summary>
    public HttpServerKind HttpServer { get; init; } = OperatingSystem.IsLinux() ? HttpServerKind.Loop : HttpServerKind.Kestrel;
    /// <summary>
    /// Connections the endpoint holds open at most (the loop server). Near it, the connections that have waited
    /// longest for their client are shed to make room, and the last few slots are kept for probes.
    /// </summary>
    public int HttpMaxConnections { get; init; } = BlobCache.Http.LoopServer.DefaultMaxConnections;
    /// <summary>A request's head and body must arrive whole within this of their first byte (the loop server).</summary>
    public int HttpReceiveTimeoutMs { get; init; } = (int)BlobCache.Http.LoopServer.DefaultReceiveTimeout.TotalMilliseconds;
    /// <summary>Read-only FUSE mounts of the node's read path (Linux; root or CAP_SYS_ADMIN and /dev/fuse).</summary>
    public IReadOnlyList<MountSpec> Mounts { get; init; } = [];
    public string LogLevel { get; init; } = "Information";
    /// <summary>text (one line per event) or json (one JSON object per line, for log collectors).</summary>
    public string LogFormat { get; init; } = "text";

    public int ChunkSize => ChunkSizeMb * 1024 * 1024;
    public string Advertised => AdvertiseHost ?? (Host is "0.0.0.0" or "::" or "*" ? "127.0.0.1" : Host);
    public int AdvertisedGossipPort => AdvertiseGossipPort ?? GossipPort;
    public int AdvertisedGrpcPort => AdvertiseGrpcPort ?? GrpcPort;
}
