using System.Net;
using System.Net.Sockets;
using BlobCache.Mesh;
using BlobCache.Mesh.Reading;
using BlobCache.Node.Config;
using BlobCache.Node.Endpoint;
using BlobCache.Node.Gossip;
using BlobCache.Node.Origin;
using BlobCache.Node.Peers;
using BlobCache.Node.Peers.Tcp;
using BlobCache.Node.Peers.Udp;
using BlobCache.Node.Reading;
using BlobCache.Node.Security;
using BlobCache.Node.Telemetry;
using BlobCache.Protocol.Security;
using BlobCache.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry.Metrics;

namespace BlobCache.Node.Hosting;

/// <summary>
/// Wires one node together: origin, chunk store, gossip, peer transports, read path, the local Blob endpoint,
/// health and metrics; runs until SIGTERM/Ctrl-C (or the caller's token), then leaves the mesh gracefully.
/// Components are built in order and each is pushed onto one teardown stack as soon as it exists, so every way
/// out (a stop, a signal, a start that fails half-way) closes exactly what was built, newest first.
/// </summary>
public sealed class NodeHost : IAsyncDisposable
{
    /// <summary>How often the key file is re-read in case its watcher missed a change.</summary>
    private static readonly TimeSpan KeyFileCheckPeriod = TimeSpan.FromSeconds(2);

    private readonly NodeOptions _options;
    private readonly TeardownStack _teardown = new();
    private NodeSettings _settings = null!;
    private IBlobOrigin _origin = null!;
    private GossipKeyFile? _keyFile;
    private Func<Keyring>? _keys;
    private ILoggerFactory _loggers = NullLoggerFactory.Instance;
    private ILogger _log = NullLogger.Instance;
    private UdpLibraryLog _udpLibraryLog = null!;
    private PeerTls? _tls;
    private EndpointAccess _access = null!;
    private NodeMetrics _metrics = null!;
    private ChunkStore _store = null!;
    private GossipHost _gossip = null!;
    private IChunkPeerClient _peers = null!;
    private ChunkReader _reader = null!;
    private BlobMetadataCache _metadata = null!;
    private MetadataMetrics _metadataMetrics = null!;
    private PassThroughCache? _passThrough;
    private PeerAdmission _admission = null!;
    private PeerSends _sends = null!;
    private TcpChunkService _tcpService = null!;
    private UdpChunkServer _udpServer = null!;
    private WebApplication _app = null!;

    private NodeHost(NodeOptions options) => _options = options;

    /// <summary>Runs a node until it is told to stop; 2 when it must not start (after one line saying why).</summary>
    public static async Task<int> RunAsync(NodeOptions options, CancellationToken stop = default)
    {
        await using var node = new NodeHost(options);
        try
        {
            await node.StartAsync().ConfigureAwait(false);
        }
        catch (NodeStartRefused e)
        {
            if (e.Line is not null) Console.Error.WriteLine($"blobcache: {e.Line}");
            return 2;
        }
        await node.WaitForStopAsync(stop).ConfigureAwait(false);
        return 0;
    }

    public ValueTask DisposeAsync() => _teardown.DisposeAsync();

    private async Task StartAsync()
    {
        OpenOrigin();
        OpenKeyring();
        _settings = NodeSettings.From(_options);
        OpenLogging();
        _metrics = _teardown.Push(new NodeMetrics());
        OriginMetrics.Register(_metrics, _origin);
        OpenSecurity();
        OpenStore();
        StartGossip();
        StartPeers();
        BuildApplication();
        StartMounts();
        await StartApplicationAsync().ConfigureAwait(false);
    }

    /// <summary>Until SIGTERM/Ctrl-C (the host's lifetime hears them) or <paramref name="stop"/>.</summary>
    private async Task WaitForStopAsync(CancellationToken stop)
    {
        IHostApplicationLifetime lifetime = _app.Services.GetRequiredService<IHostApplicationLifetime>();
        var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using CancellationTokenRegistration signalled = lifetime.ApplicationStopping.Register(() => stopping.TrySetResult());
        using CancellationTokenRegistration asked = stop.Register(() => stopping.TrySetResult());
        await stopping.Task.ConfigureAwait(false);
    }

    private void OpenOrigin()
    {
        try
        {
            _origin = OriginFactory.Create(_options.Origin, new OriginRetry(_options.OriginRetries, TimeSpan.FromMilliseconds(_options.OriginTimeoutMs)));
        }
        catch (ArgumentException e)
        {
            throw new NodeStartRefused($"--origin: {e.Message}");
        }
    }

    /// <summary>The keyring, or none under --insecure without one (what is given is always used).</summary>
    private void OpenKeyring()
    {
        if (_options.GossipKeyFile is null)
        {
            if (_options.Insecure) return;
            throw new NodeStartRefused("gossip needs a shared key: pass --gossip-key-file FILE (make one with `blobcache keygen > FILE`, same file on every node), or --insecure for local development");
        }
        try
        {
            GossipKeyFile keyFile = _teardown.Push(GossipKeyFile.Load(_options.GossipKeyFile));
            _keyFile = keyFile;
            _keys = () => keyFile.Current;
        }
        catch (OptionException e)
        {
            throw new NodeStartRefused(e.Message);
        }
    }

    private void OpenLogging()
    {
        ILoggerFactory loggers = LoggerFactory.Create(b => NodeLogging.Configure(b, _options));
        _teardown.Push("logging", () =>
        {
            _teardown.Log = null;
            loggers.Dispose();
            return ValueTask.CompletedTask;
        });
        _loggers = loggers;
        _log = _teardown.Log = loggers.CreateLogger("blobcache");
        // Before any UDP socket exists: LiteNetLib would print every malformed datagram to stdout.
        _udpLibraryLog = _teardown.Push(UdpLibraryLog.Install(loggers.CreateLogger("blobcache.udp")));
        if (_keyFile is null) _log.LogWarning("--insecure without --gossip-key-file: gossip and UDP chunk transfer are plain text and unauthenticated; for local development only");
        else
        {
            _keyFile.Watch(loggers.CreateLogger("blobcache.keys"), KeyFileCheckPeriod);
            _log.LogInformation("gossip keyring {Path}: {Keys}", _keyFile.Path, _keyFile.Current);
        }
    }

    /// <summary>The peer TLS material and the endpoint's access rules; a file that cannot be used stops the node.</summary>
    private void OpenSecurity()
    {
        ILogger log = _loggers.CreateLogger("blobcache.security");
        if (_settings.EndpointOpenToAll)
            log.LogWarning("--insecure: the local endpoint on {Host} is open to anyone who reaches it (no --endpoint-token-file)", _options.Host);
        try
        {
            if (_settings.Tls is { } files) _tls = _teardown.Push(new PeerTls(files.Cert, files.Key, files.Ca, TimeSpan.FromSeconds(10), log));
            _access = _teardown.Push(new EndpointAccess(_options.EndpointTokenFile, _options.AllowedContainers, log));
        }
        catch (InvalidDataException e)
        {
            throw new NodeStartRefused(e.Message);
        }
        if (_tls is not null) log.LogInformation("gRPC peers: mutual TLS as {Subject} (expires {NotAfter:u})", _tls.Certificate.Subject, _tls.Certificate.NotAfter.ToUniversalTime());
        else log.LogWarning("--insecure: gRPC peer traffic is plain HTTP/2, unauthenticated");
        SecurityMetrics.RegisterPeerTls(_metrics, _tls);
        SecurityMetrics.RegisterEndpointAccess(_metrics, _access);
        SecurityMetrics.RegisterKeyring(_metrics, _keyFile);
    }

    private void OpenStore()
    {
        try
        {
            _store = new ChunkStore(_settings.Store, _loggers.CreateLogger("blobcache.store"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new NodeStartRefused($"--cache-dir {_options.CacheDir}: {e.Message}");
        }
        ChunkStore store = _store;
        _teardown.Push(nameof(ChunkStore), async () =>
        {
            await store.FlushAsync().ConfigureAwait(false);
            store.Dispose();
        });
        StoreMetrics.Register(_metrics, store);
    }

    private void StartGossip()
    {
        _gossip = _teardown.PushAsync(new GossipHost(_options, _loggers.CreateLogger("blobcache.gossip"), _keys));
        try
        {
            _gossip.Start();
        }
        catch (SocketException e)
        {
            throw new NodeStartRefused($"--gossip-port {_options.GossipPort}: {e.Message}");
        }
        GossipMetrics.Register(_metrics, _gossip);
    }

    /// <summary>
    /// Blob properties and passed-through reads for the endpoint and every peer transport's owner side: from the key's
    /// owner in the region over framed TCP (whatever the chunk transport; the chunk client when it is framed TCP),
    /// else from Blob.
    /// </summary>
    private void StartMetadata(NodeOptions options, IChunkPeerClient chunkPeers)
    {
        var ttl = TimeSpan.FromSeconds(options.MetadataTtlSeconds);
        _metadataMetrics = new MetadataMetrics(_metrics.Meter);
        var routing = new MetadataRouting
        {
            Enabled = options.MetadataViaMesh && ttl > TimeSpan.Zero, MembersPerOwner = options.MetadataMembersPerOwner,
            PeerDeadlineMicros = options.MetadataPeerTimeoutMs * Micros.PerMillisecond,
        };
        routing.Validate();
        MetadataRouter? router = null;
        IMetadataPeerClient? client = null;
        if (routing.Enabled)
        {
            TcpChunkPeerClient tcp = chunkPeers as TcpChunkPeerClient ?? _teardown.PushAsync(new TcpChunkPeerClient(options.NodeId, options.ChunkSize, _tls));
            client = new TcpMetadataClient(tcp, _origin.AccountName);
            router = new MetadataRouter(_gossip, options.NodeId, routing, _metadataMetrics, _loggers.CreateLogger("blobcache.metadata"));
        }
        _metadata = new BlobMetadataCache(_origin, ttl, router: router, peers: client, metrics: _metadataMetrics, content: _reader);
        _passThrough = _origin is IOriginPassThrough passThrough ? new PassThroughCache(passThrough, ttl, router: router, peers: client, metrics: _metadataMetrics) : null;
    }

    /// <summary>The peer client, the read path it serves, and the owner-side transports.</summary>
    private void StartPeers()
    {
        ILoggerFactory loggers = _loggers;
        NodeOptions options = _options;
        // The gRPC and framed-TCP servers always run (a mesh may mix them while it is rolled over); UDP only when asked for.
        IChunkPeerClient peers = options.PeerTransport switch
        {
            PeerTransport.Udp => new UdpChunkPeerClient(options.NodeId, options.ChunkSize, loggers.CreateLogger("blobcache.udp"), _keys),
            PeerTransport.Tcp => new TcpChunkPeerClient(options.NodeId, options.ChunkSize, _tls),
            _ => new GrpcChunkPeerClient(options.NodeId, options.ChunkSize, _tls),
        };
        _peers = _teardown.PushAsync(peers);
        _reader = _teardown.Push(new ChunkReader(options, _store, _origin, _gossip, peers, _metrics, loggers.CreateLogger("blobcache.read")));
        // One view of each blob's properties for the endpoint and for every peer transport's owner side.
        StartMetadata(options, peers);
        _admission = new PeerAdmission(options.MaxPeerRequests, options.PeerRateLimit);
        // One bound on chunks going out to peers, over every transport together.
        _sends = new PeerSends(options.MaxPeerSends, _gossip, _metrics);
        _tcpService = new TcpChunkService(_reader, _metadata, _origin, _metrics, _admission, _sends, _tls, loggers.CreateLogger("blobcache.tcp"), _metadataMetrics, _passThrough);
        var udpServer = new UdpChunkServer(options, _reader, _metadata, _origin, _metrics, loggers.CreateLogger("blobcache.udp"), _keys, _sends) { Admission = _admission };
        _udpServer = _teardown.PushAsync(udpServer);
        try
        {
            if (options.ServesUdp) udpServer.Start();
        }
        catch (SocketException e)
        {
            throw new NodeStartRefused($"--udp-port {options.UdpPort}: {e.Message}");
        }
        SecurityMetrics.RegisterPeerAdmission(_metrics, _admission);
        UdpMetrics.Register(_metrics, UdpFramesDropped, udpServer);
    }

    private long UdpFramesDropped() =>
        _udpServer.DroppedFrames + (_peers is UdpChunkPeerClient u ? u.DroppedFrames : 0) + _udpLibraryLog.DroppedDatagrams;

    /// <summary>One application for the local endpoint and the gRPC port (see <see cref="LocalEndpointServer"/>).</summary>
    private void BuildApplication()
    {
        // The node takes no settings from appsettings files; without this the host watches the working directory for
        // them (an inotify thread that wakes on every file written there, a cache directory included).
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
        NodeLogging.Configure(builder.Logging, _options);
        if (_options.InlineIo) builder.WebHost.UseSockets(s => s.UnsafePreferInlineScheduling = true);
        bool loopServer = _options.HttpServer == HttpServerKind.Loop;
        if (loopServer) LocalEndpointServer.UseLoopServer(builder, new IPEndPoint(_settings.Bind, _options.HttpPort), _options, _loggers, _metrics);
        builder.WebHost.ConfigureKestrel(k =>
        {
            if (!loopServer) k.Listen(_settings.Bind, _options.HttpPort, l => l.Protocols = HttpProtocols.Http1);
            PeerPorts.Listen(k, _settings.Bind, _options.GrpcPort, _tcpService, _tls);
            k.Limits.MaxRequestBodySize = 1024 * 1024;
            // Kestrel pauses a response writer once this much is buffered; the 64 KiB default turns every 4 MiB
            // chunk (HTTP or gRPC) into dozens of flush round trips.
            k.Limits.MaxResponseBufferSize = 8 * 1024 * 1024;
        });
        PeerPorts.AddGrpc(builder.Services, new GrpcChunkService(_reader, _metadata, _origin, _metrics, _admission, _sends, _loggers.CreateLogger<GrpcChunkService>()));
        builder.Services.AddSingleton(new ErrorAnswerLog(_loggers.CreateLogger<ErrorAnswerLog>()));
        builder.Services.AddSingleton<Microsoft.AspNetCore.Routing.MatcherPolicy, LocalPortRouting>();
        builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(NodeMetrics.MeterName).AddPrometheusExporter());

        _app = _teardown.PushAsync(builder.Build());
        var blobs = new BlobEndpoint(_origin, _metadata, _reader, _metrics, _options.AccountAliases, _loggers.CreateLogger<BlobEndpoint>(), _access) { PassThrough = _passThrough };
        var warm = new WarmUp(_reader, _origin, _gossip, _peers, TimeSpan.FromMilliseconds(_options.PeerTimeoutMs), _loggers.CreateLogger("blobcache.warm"));
        new LocalEndpointRoutes(_options, _origin, _gossip, _store, _metrics, blobs, warm, _keyFile, UdpFramesDropped, () => _udpServer.UnauthenticatedConnections, _metadataMetrics)
            .Map(_app, _access);
        PeerPorts.Map(_app, _options.GrpcPort);
    }

    /// <summary>
    /// --mount: the same read path as local files, mounted before the node answers /healthz (a sidecar's training
    /// container starts once it does); a mount that cannot be made stops the node (it prints why).
    /// </summary>
    private void StartMounts()
    {
        Mount.NodeMounts mounts = Mount.NodeMounts.Start(_options, _origin, _metadata, _reader, _loggers) ?? throw new NodeStartRefused(null);
        _teardown.Push(mounts);
    }

    private async Task StartApplicationAsync()
    {
        try
        {
            await _app.StartAsync().ConfigureAwait(false);
        }
        catch (IOException e)
        {
            throw new NodeStartRefused($"cannot listen on --http-port {_options.HttpPort} / --grpc-port {_options.GrpcPort}: {e.Message}");
        }
        _teardown.Push("application", async () => await _app.StopAsync().ConfigureAwait(false));
        // Popped first: peers hear this node is leaving while it still answers them.
        _teardown.Push("mesh membership", async () =>
        {
            _log.LogInformation("stopping: leaving the mesh");
            await _gossip.LeaveAsync(TimeSpan.FromSeconds(3)).ConfigureAwait(false);
        });
        NodeOptions o = _options;
        _log.LogInformation("blobcache {Id} serving http://{Host}:{Port}/{Account} (origin: {Origin}; chunk {Chunk} MiB; memory {Memory} MiB; disk {Disk}; peers over {Transport}; endpoint server {Server}; inline io {Inline})",
            o.NodeId, o.Advertised, o.HttpPort, _origin.AccountName, _origin.Describe, o.ChunkSizeMb, o.MemoryMb,
            o.CacheDir is null ? "off" : $"{o.DiskMb} MiB in {o.CacheDir}", o.PeerTransport.ToString().ToLowerInvariant(), o.HttpServer.ToString().ToLowerInvariant(), o.InlineIo);
    }
}
