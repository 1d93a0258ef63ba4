using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using BlobCache.Http;
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
using BlobCache.Protocol.Gossip;
using BlobCache.Protocol.Security;
using BlobCache.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace BlobCache.Node.Hosting;

/// <summary>
/// Wires one node together: origin, chunk store, gossip, peer transports, read path, the local Blob endpoint,
/// health and metrics; runs until SIGTERM/Ctrl-C, then leaves the mesh gracefully.
/// </summary>
public static class NodeHost
{
    public static async Task<int> RunAsync(NodeOptions options)
    {
        IBlobOrigin origin;
        try
        {
            origin = OriginFactory.Create(options.Origin, new OriginRetry(options.OriginRetries, TimeSpan.FromMilliseconds(options.OriginTimeoutMs)));
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"blobcache: --origin: {e.Message}");
            return 2;
        }

        GossipKeyFile? keyFile;
        try
        {
            keyFile = LoadKeys(options);
        }
        catch (OptionException e)
        {
            Console.Error.WriteLine($"blobcache: {e.Message}");
            return 2;
        }
        using GossipKeyFile? watchedKeys = keyFile;
        Func<Keyring>? keys = keyFile is null ? null : () => keyFile.Current;

        using ILoggerFactory loggers = LoggerFactory.Create(b => ConfigureLogging(b, options));
        ILogger log = loggers.CreateLogger("blobcache");
        // Before any UDP socket exists: LiteNetLib would print every malformed datagram to stdout.
        using UdpLibraryLog udpLibraryLog = UdpLibraryLog.Install(loggers.CreateLogger("blobcache.udp"));
        if (keyFile is null) log.LogWarning("--insecure without --gossip-key-file: gossip and UDP chunk transfer are plain text and unauthenticated; for local development only");
        else
        {
            keyFile.Watch(loggers.CreateLogger("blobcache.keys"), KeyFileCheckPeriod);
            log.LogInformation("gossip keyring {Path}: {Keys}", keyFile.Path, keyFile.Current);
        }
        IPAddress bind = IPAddress.Parse(GossipHost.BindAddress(options.Host));
        string? refusal = OpenSecurity(options, bind, loggers, out PeerTls? tls, out EndpointAccess? access);
        if (refusal is not null)
        {
            Console.Error.WriteLine($"blobcache: {refusal}");
            return 2;
        }
        using PeerTls? tlsScope = tls;
        using EndpointAccess? accessScope = access;

        ChunkStore store;
        try
        {
            store = new ChunkStore(new ChunkStoreOptions
            {
                MemoryBytes = (long)options.MemoryMb << 20,
                DiskBytes = options.CacheDir is null ? 0 : (long)options.DiskMb << 20,
                Directory = options.CacheDir,
            }, loggers.CreateLogger("blobcache.store"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            Console.Error.WriteLine($"blobcache: --cache-dir {options.CacheDir}: {e.Message}");
            return 2;
        }

        var gossip = new GossipHost(options, loggers.CreateLogger("blobcache.gossip"), keys);
        try
        {
            gossip.Start();
        }
        catch (SocketException e)
        {
            Console.Error.WriteLine($"blobcache: --gossip-port {options.GossipPort}: {e.Message}");
            await gossip.DisposeAsync().ConfigureAwait(false);
            store.Dispose();
            return 2;
        }

        var metrics = new NodeMetrics();
        // The gRPC and framed-TCP servers always run (a mesh may mix them while it is rolled over); UDP only when asked for.
        IChunkPeerClient peers = options.PeerTransport switch
        {
            PeerTransport.Udp => new UdpChunkPeerClient(options.NodeId, options.ChunkSize, loggers.CreateLogger("blobcache.udp"), keys),
            PeerTransport.Tcp => new TcpChunkPeerClient(options.NodeId, options.ChunkSize, tls),
            _ => new GrpcChunkPeerClient(options.NodeId, options.ChunkSize, tls),
        };
        var reader = new ChunkReader(options, store, origin, gossip, peers, metrics, loggers.CreateLogger("blobcache.read"));
        // One view of each blob's properties for the endpoint and for every peer transport's owner side.
        var metadata = new BlobMetadataCache(origin, TimeSpan.FromSeconds(options.MetadataTtlSeconds));
        var admission = new PeerAdmission(options.MaxPeerRequests, options.PeerRateLimit);
        var tcpService = new TcpChunkService(reader, metadata, origin, metrics, admission, tls, loggers.CreateLogger("blobcache.tcp"));
        var udpServer = new UdpChunkServer(options, reader, metadata, origin, metrics, loggers.CreateLogger("blobcache.udp"), keys) { Admission = admission };
        try
        {
            if (options.ServesUdp) udpServer.Start();
        }
        catch (SocketException e)
        {
            Console.Error.WriteLine($"blobcache: --udp-port {options.UdpPort}: {e.Message}");
            await udpServer.DisposeAsync().ConfigureAwait(false);
            reader.Dispose();
            await peers.DisposeAsync().ConfigureAwait(false);
            await gossip.DisposeAsync().ConfigureAwait(false);
            store.Dispose();
            return 2;
        }
        var endpoint = new BlobEndpoint(origin, metadata, reader, metrics, options.AccountAliases, loggers.CreateLogger<BlobEndpoint>());
        var health = new OriginHealth(origin);
        var warm = new WarmUp(reader, origin, gossip, peers, TimeSpan.FromMilliseconds(options.PeerTimeoutMs), loggers.CreateLogger("blobcache.warm"));
        RegisterGauges(metrics, store, gossip);
        RegisterPeerSecurityCounters(metrics, tls, access!, admission);
        long UdpDropped() => udpServer.DroppedFrames + (peers is UdpChunkPeerClient u ? u.DroppedFrames : 0) + udpLibraryLog.DroppedDatagrams;
        metrics.Meter.CreateObservableCounter("blobcache_udp_frames_dropped", UdpDropped,
            "{frame}", "UDP chunk-transport frames that failed to decode or broke the protocol, and datagrams the UDP library discarded as malformed");
        RegisterKeyringCounters(metrics, keyFile, udpServer);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        ConfigureLogging(builder.Logging, options);
        if (options.InlineIo) builder.WebHost.UseSockets(s => s.UnsafePreferInlineScheduling = true);
        bool loopServer = options.HttpServer == HttpServerKind.Loop;
        if (loopServer) UseLoopServer(builder, new IPEndPoint(bind, options.HttpPort), options, loggers, metrics);
        builder.WebHost.ConfigureKestrel(k =>
        {
            if (!loopServer) k.Listen(bind, options.HttpPort, l => l.Protocols = HttpProtocols.Http1);
            k.Listen(bind, options.GrpcPort, l =>
            {
                l.Protocols = HttpProtocols.Http2;
                // Framed-TCP peers share the port: their connections open with a magic, HTTP/2 (or its TLS) with its
                // own bytes. Under --tls-* the framed service does its own mutual TLS after the magic, with the same
                // certificate and CA rules as the gRPC side.
                l.Use(tcpService.Middleware);
                if (tls is not null) UsePeerTls(l, tls);
            });
            k.Limits.MaxRequestBodySize = 1024 * 1024;
            // Kestrel pauses a response writer once this much is buffered; the 64 KiB default turns every 4 MiB
            // chunk (HTTP or gRPC) into dozens of flush round trips.
            k.Limits.MaxResponseBufferSize = 8 * 1024 * 1024;
            k.Limits.Http2.InitialStreamWindowSize = 4 * 1024 * 1024;
            k.Limits.Http2.InitialConnectionWindowSize = 16 * 1024 * 1024;
        });
        // gRPC takes a registered service instance when there is one: the node's own, with its read path.
        builder.Services.AddSingleton(new GrpcChunkService(reader, metadata, origin, metrics, admission, loggers.CreateLogger<GrpcChunkService>()));
        builder.Services.AddGrpc(g =>
        {
            // Both directions bounded: a request is a few names (GrpcChunkPeerClient.MaxSendMessageBytes), a piece 64 KiB.
            g.MaxReceiveMessageSize = GrpcChunkPeerClient.MaxSendMessageBytes;
            g.MaxSendMessageSize = GrpcChunkPeerClient.MaxReceiveMessageBytes;
        });
        builder.Services.AddSingleton(new ErrorAnswerLog(loggers.CreateLogger<ErrorAnswerLog>()));
        builder.Services.AddSingleton<Microsoft.AspNetCore.Routing.MatcherPolicy, LocalPortRouting>();
        builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(NodeMetrics.MeterName).AddPrometheusExporter());

        WebApplication app = builder.Build();
        // Everything but the gRPC port goes through the endpoint's access rules (gRPC has mutual TLS instead).
        int grpcPort = options.GrpcPort;
        app.Use((context, next) => context.Connection.LocalPort != grpcPort ? access!.InvokeAsync(context, next) : next(context));
        // By the port a request came in on, not its Host header: clients reach the node under other names and ports,
        // and peers behind a forwarder name the advertised port in :authority.
        app.MapGrpcService<GrpcChunkService>().RequireLocalPort(grpcPort);

        int httpPort = options.HttpPort;
        app.MapPrometheusScrapingEndpoint("/metrics").RequireLocalPort(httpPort);
        app.MapGet("/healthz", () => Results.Text("ok\n")).RequireLocalPort(httpPort);
        app.MapGet("/readyz", async (CancellationToken ct) =>
        {
            bool joined = gossip.Joined;
            bool originUp = await health.IsUpAsync(ct).ConfigureAwait(false);
            string text = $"joined={joined.ToString().ToLowerInvariant()} origin={(originUp ? "up" : "down")}\n";
            return joined && originUp ? Results.Text(text) : Results.Text(text, statusCode: 503);
        }).RequireLocalPort(httpPort);
        app.MapGet("/status", () => Results.Json(StatusReport.Build(options, gossip, store, metrics, UdpDropped(), keyFile, udpServer.UnauthenticatedConnections),
            StatusJson.Default.StatusReport)).RequireLocalPort(httpPort);
        app.MapPost("/warm", (HttpContext context) => WarmEndpoint.HandleAsync(context, warm, origin)).RequireLocalPort(httpPort);
        // Everything else is the Blob API; "{**path}" also takes names with dots, which the default fallback skips.
        app.MapFallback("{**path}", endpoint.HandleAsync).RequireLocalPort(httpPort);

        IHostApplicationLifetime lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        lifetime.ApplicationStopping.Register(() =>
        {
            log.LogInformation("stopping: leaving the mesh");
            gossip.LeaveAsync(TimeSpan.FromSeconds(3)).GetAwaiter().GetResult();
        });

        // --mount: the same read path as local files, mounted before the node answers /healthz (a sidecar's training
        // container starts once it does); a mount that cannot be made stops the node (exit 2).
        Mount.NodeMounts? mounts = Mount.NodeMounts.Start(options, origin, metadata, reader, loggers);
        try
        {
            await app.StartAsync().ConfigureAwait(false);
        }
        catch (IOException e)
        {
            mounts?.Dispose();
            Console.Error.WriteLine($"blobcache: cannot listen on --http-port {options.HttpPort} / --grpc-port {options.GrpcPort}: {e.Message}");
            await udpServer.DisposeAsync().ConfigureAwait(false);
            await peers.DisposeAsync().ConfigureAwait(false);
            await gossip.DisposeAsync().ConfigureAwait(false);
            return 2;
        }
        log.LogInformation("blobcache {Id} serving http://{Host}:{Port}/{Account} (origin: {Origin}; chunk {Chunk} MiB; memory {Memory} MiB; disk {Disk}; peers over {Transport}; endpoint server {Server}; inline io {Inline})",
            options.NodeId, options.Advertised, options.HttpPort, origin.AccountName, origin.Describe, options.ChunkSizeMb, options.MemoryMb,
            options.CacheDir is null ? "off" : $"{options.DiskMb} MiB in {options.CacheDir}", options.PeerTransport.ToString().ToLowerInvariant(), options.HttpServer.ToString().ToLowerInvariant(), options.InlineIo);
        if (mounts is null) lifetime.StopApplication();
        await app.WaitForShutdownAsync().ConfigureAwait(false);
        mounts?.Dispose();

        await udpServer.DisposeAsync().ConfigureAwait(false);
        await store.FlushAsync().ConfigureAwait(false);
        reader.Dispose();
        await peers.DisposeAsync().ConfigureAwait(false);
        await gossip.DisposeAsync().ConfigureAwait(false);
        store.Dispose();
        metrics.Dispose();
        await app.DisposeAsync().ConfigureAwait(false);
        return mounts is null ? 2 : 0;
    }

    /// <summary>
    /// Serves the local endpoint with the event-loop server and the gRPC port with Kestrel, one application for both:
    /// the host's server becomes the pair (Kestrel stays registered under its own type, configured as before).
    /// </summary>
    private static void UseLoopServer(WebApplicationBuilder builder, IPEndPoint endPoint, NodeOptions options, ILoggerFactory loggers, NodeMetrics metrics)
    {
        ServiceDescriptor kestrel = builder.Services.Last(d => d.ServiceType == typeof(IServer));
        Type kestrelType = kestrel.ImplementationType ?? throw new InvalidOperationException("Kestrel is not registered by type");
        builder.Services.Remove(kestrel);
        builder.Services.AddSingleton(kestrelType);
        var server = new LoopServer(endPoint, loggers)
        {
            MaxConnections = options.HttpMaxConnections,
            ReceiveTimeout = TimeSpan.FromMilliseconds(options.HttpReceiveTimeoutMs),
            // The kubelet's probes and the metrics scraper still get in when every other connection is busy.
            ReservedPaths = ["/healthz", "/readyz", "/metrics"],
            Errors = BlobServerErrors.Answer,
        };
        builder.Services.AddSingleton<IServer>(sp => new ServerPair((IServer)sp.GetRequiredService(kestrelType), server));
        metrics.Meter.CreateObservableGauge("blobcache_http_connections", () => server.OpenConnections, "{connection}",
            "Connections open on the local endpoint");
        metrics.Meter.CreateObservableGauge("blobcache_http_body_bytes", () => server.BufferedBodyBytes, "By",
            "Request body memory the local endpoint has set aside now: each kept body's length (a chunked body's limit), within 32 MiB; bodies of GET and HEAD are dropped");
        metrics.Meter.CreateObservableCounter("blobcache_http_refused", () => Enum.GetValues<Refusal>().Select(r =>
            new System.Diagnostics.Metrics.Measurement<long>(server.Refused(r), new KeyValuePair<string, object?>("reason", r.Label()))),
            "{request}", "Local endpoint connections and requests turned away by the server before any handler: malformed or oversized " +
            "(malformed), closed at accept over the limit (connections), shed near the limit (shed), not arrived whole in time (timeout), " +
            "over the request-body memory budget (body_memory), a non-probe request in the probes' reserve (reserve)");
    }

    /// <summary>How often the key file is re-read in case its watcher missed a change.</summary>
    private static readonly TimeSpan KeyFileCheckPeriod = TimeSpan.FromSeconds(2);

    /// <summary>The keyring, or null under --insecure without one (what is given is always used).</summary>
    private static GossipKeyFile? LoadKeys(NodeOptions options)
    {
        if (options.GossipKeyFile is not null) return GossipKeyFile.Load(options.GossipKeyFile);
        if (options.Insecure) return null;
        throw new OptionException("gossip needs a shared key: pass --gossip-key-file FILE (make one with `blobcache keygen > FILE`, same file on every node), or --insecure for local development");
    }

    private static void RegisterKeyringCounters(NodeMetrics metrics, GossipKeyFile? keyFile, UdpChunkServer udpServer)
    {
        metrics.Meter.CreateObservableCounter("blobcache_udp_connections_unauthenticated", () => udpServer.UnauthenticatedConnections,
            "{connection}", "UDP chunk-transport connection requests refused for a missing, stale or bad credential");
        if (keyFile is null) return;
        metrics.Meter.CreateObservableCounter("blobcache_gossip_keyring_reloads", () => new[]
        {
            new System.Diagnostics.Metrics.Measurement<long>(keyFile.Reloads, new KeyValuePair<string, object?>("result", "applied")),
            new System.Diagnostics.Metrics.Measurement<long>(keyFile.ReloadErrors, new KeyValuePair<string, object?>("result", "rejected")),
        }, "{reload}", "Changes of the gossip key file: applied, or rejected (the previous keyring stayed in use)");
        metrics.Meter.CreateObservableCounter("blobcache_gossip_packets_opened", () => keyFile.Current.Keys.Select(k =>
            new System.Diagnostics.Metrics.Measurement<long>(k.PacketsOpened, new KeyValuePair<string, object?>("key", k.Id))),
            "{packet}", "Gossip packets authenticated, by key fingerprint: a key whose count stopped growing is no longer used by any node");
    }

    /// <summary>
    /// Loads the peer TLS material and the endpoint's access rules, or says in one line why the node must not start:
    /// peers are authenticated unless --insecure, and an endpoint reachable from other hosts needs a token.
    /// </summary>
    private static string? OpenSecurity(NodeOptions options, IPAddress bind, ILoggerFactory loggers, out PeerTls? tls, out EndpointAccess? access)
    {
        tls = null;
        access = null;
        ILogger log = loggers.CreateLogger("blobcache.security");
        string?[] tlsFiles = [options.TlsCert, options.TlsKey, options.TlsCa];
        if (tlsFiles.Any(f => f is not null) && tlsFiles.Any(f => f is null))
            return "--tls-cert, --tls-key and --tls-ca go together (missing " + string.Join(", ", new[] { "--tls-cert", "--tls-key", "--tls-ca" }.Where((_, i) => tlsFiles[i] is null)) + ")";
        if (tlsFiles[0] is null && !options.Insecure)
            return "gRPC peer traffic needs mutual TLS: give --tls-cert, --tls-key and --tls-ca, or --insecure for local development";
        bool exposed = options.RequireEndpointAuth || !EndpointAccess.IsLoopback(bind.ToString());
        if (exposed && options.EndpointTokenFile is null)
        {
            if (!options.Insecure || options.RequireEndpointAuth)
                return $"the local endpoint on {options.Host} is reachable from other hosts: give --endpoint-token-file (or bind 127.0.0.1)";
            log.LogWarning("--insecure: the local endpoint on {Host} is open to anyone who reaches it (no --endpoint-token-file)", options.Host);
        }
        try
        {
            if (tlsFiles[0] is not null) tls = new PeerTls(options.TlsCert!, options.TlsKey!, options.TlsCa!, TimeSpan.FromSeconds(10), log);
            access = new EndpointAccess(options.EndpointTokenFile, options.AllowedContainers, log);
        }
        catch (InvalidDataException e)
        {
            tls?.Dispose();
            tls = null;
            return e.Message;
        }
        if (tls is not null) log.LogInformation("gRPC peers: mutual TLS as {Subject} (expires {NotAfter:u})", tls.Certificate.Subject, tls.Certificate.NotAfter.ToUniversalTime());
        else log.LogWarning("--insecure: gRPC peer traffic is plain HTTP/2, unauthenticated");
        return null;
    }

    // TLS on the gRPC port, a client certificate required and checked against the mesh CA (never system roots). The
    // certificate is picked per connection, so a reload reaches new connections without a restart. A connection
    // whose handshake fails (no certificate, a foreign CA, plain text) is closed before any gRPC, and counted.
    private static void UsePeerTls(ListenOptions listen, PeerTls tls)
    {
        const string handshaken = "blobcache.tls";
        listen.Use(next => async connection =>
        {
            await next(connection).ConfigureAwait(false);
            if (!connection.Items.ContainsKey(handshaken)) tls.HandshakeFailed();
        });
        listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificateSelector = (_, _) => tls.Certificate,
            ClientCertificateMode = ClientCertificateMode.RequireCertificate,
            ClientCertificateValidation = (certificate, _, _) => tls.ValidateClient(certificate),
            HandshakeTimeout = TimeSpan.FromSeconds(5),
        });
        listen.Use(next => connection =>
        {
            connection.Items[handshaken] = true;
            return next(connection);
        });
    }

    private static void RegisterPeerSecurityCounters(NodeMetrics metrics, PeerTls? tls, EndpointAccess access, PeerAdmission admission)
    {
        metrics.Meter.CreateObservableCounter("blobcache_peer_tls_refused", () => tls?.RefusedHandshakes ?? 0, "{connection}",
            "gRPC peer connections closed at the TLS handshake (no certificate, one the mesh CA did not sign, or plain text)");
        metrics.Meter.CreateObservableCounter("blobcache_tls_reloads", () => new[]
        {
            new System.Diagnostics.Metrics.Measurement<long>(tls?.Reloads ?? 0, new KeyValuePair<string, object?>("result", "ok")),
            new System.Diagnostics.Metrics.Measurement<long>(tls?.ReloadFailures ?? 0, new KeyValuePair<string, object?>("result", "failed")),
        }, "{reload}", "Reloads of the peer TLS files after they changed");
        metrics.Meter.CreateObservableCounter("blobcache_peer_requests_refused", () => new[]
        {
            new System.Diagnostics.Metrics.Measurement<long>(admission.RefusedBusy, new KeyValuePair<string, object?>("reason", "busy")),
            new System.Diagnostics.Metrics.Measurement<long>(admission.RefusedRateLimited, new KeyValuePair<string, object?>("reason", "rate")),
        }, "{request}", "Peer chunk requests refused by --max-peer-requests (busy) or --peer-rate-limit (rate)");
        metrics.Meter.CreateObservableCounter("blobcache_endpoint_refused", () => new[]
        {
            new System.Diagnostics.Metrics.Measurement<long>(access.Unauthenticated, new KeyValuePair<string, object?>("reason", "unauthenticated")),
            new System.Diagnostics.Metrics.Measurement<long>(access.Forbidden, new KeyValuePair<string, object?>("reason", "forbidden")),
        }, "{request}", "Local endpoint requests refused for a missing or wrong token, or a container outside --allowed-containers");
    }

    private static void ConfigureLogging(ILoggingBuilder logging, NodeOptions options)
    {
        if (options.LogFormat == "json")
        {
            logging.AddJsonConsole(c =>
            {
                c.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                c.UseUtcTimestamp = true;
            });
        }
        else
        {
            logging.AddSimpleConsole(c =>
            {
                c.SingleLine = true;
                c.TimestampFormat = "HH:mm:ss.fff ";
                c.UseUtcTimestamp = true;
            });
        }
        logging.SetMinimumLevel(Enum.Parse<LogLevel>(options.LogLevel));
        logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        logging.AddFilter("Grpc", LogLevel.Warning);
        logging.AddFilter("System.Net.Http", LogLevel.Warning);
    }

    private static void RegisterGauges(NodeMetrics metrics, ChunkStore store, GossipHost gossip)
    {
        metrics.Meter.CreateObservableGauge("blobcache_members", () =>
        {
            MeshSnapshot s = gossip.Current;
            return s.Members.GroupBy(m => m.State).Select(g =>
                new System.Diagnostics.Metrics.Measurement<int>(g.Count(), new KeyValuePair<string, object?>("state", g.Key.ToString().ToLowerInvariant())));
        }, "{member}", "Members of the mesh by state, as this node sees them");
        metrics.Meter.CreateObservableGauge("blobcache_cache_bytes", () => new[]
        {
            new System.Diagnostics.Metrics.Measurement<long>(store.Stats.MemoryBytes, new KeyValuePair<string, object?>("tier", "memory")),
            new System.Diagnostics.Metrics.Measurement<long>(store.Stats.DiskBytes, new KeyValuePair<string, object?>("tier", "disk")),
        }, "By", "Bytes held by each cache tier");
        metrics.Meter.CreateObservableCounter("blobcache_evictions", () => new[]
        {
            new System.Diagnostics.Metrics.Measurement<long>(store.Stats.MemoryEvictions, new KeyValuePair<string, object?>("tier", "memory")),
            new System.Diagnostics.Metrics.Measurement<long>(store.Stats.DiskEvictions, new KeyValuePair<string, object?>("tier", "disk")),
        }, "{chunk}", "Chunks evicted from each tier");
        metrics.Meter.CreateObservableCounter("blobcache_disk_corrupt_files", () => store.Stats.CorruptFiles, "{file}",
            "Chunk files that failed verification (truncated, bad checksum, not ours) and were deleted; each read was a miss");
        metrics.Meter.CreateObservableCounter("blobcache_disk_write_errors", () => store.Stats.DiskWriteErrors, "{chunk}",
            "Chunk writes to the disk tier that failed (full disk, unwritable directory); memory kept serving");
        metrics.Meter.CreateObservableCounter("blobcache_gossip_packets_dropped", () => new[]
        {
            new System.Diagnostics.Metrics.Measurement<long>(gossip.UnauthenticatedPackets, new KeyValuePair<string, object?>("reason", "unauthenticated")),
            new System.Diagnostics.Metrics.Measurement<long>(gossip.DroppedPackets, new KeyValuePair<string, object?>("reason", "malformed")),
        }, "{packet}", "Gossip packets dropped: failed authentication (never parsed), or authenticated but failed to decode");
        RegisterGossipTransferCounters(metrics, gossip);
    }

    private static void RegisterGossipTransferCounters(NodeMetrics metrics, GossipHost gossip)
    {
        static System.Diagnostics.Metrics.Measurement<long> By(string label, string value, long count) => new(count, new KeyValuePair<string, object?>(label, value));
        metrics.Meter.CreateObservableCounter("blobcache_gossip_oversize_datagrams", () => gossip.OversizeDatagrams, "{message}",
            "Gossip messages not sent because they exceed the datagram budget without being state (a bug: each is logged)");
        metrics.Meter.CreateObservableCounter("blobcache_gossip_datagrams", () => new[]
        {
            By("direction", "sent", gossip.SentPackets), By("direction", "received", gossip.ReceivedPackets),
        }, "{datagram}", "Gossip datagrams sent and received");
        metrics.Meter.CreateObservableCounter("blobcache_gossip_datagram_bytes_sent", () => gossip.SentPacketBytes, "By",
            "Bytes of the gossip datagrams sent, as on the wire");
        metrics.Meter.CreateObservableCounter("blobcache_gossip_state_transfers", () => new[]
        {
            By("direction", "sent", gossip.StreamsSent), By("direction", "received", gossip.StreamsReceived),
        }, "{transfer}", "Membership state transfers by stream (joins and push-pulls too big for one datagram)");
        metrics.Meter.CreateObservableCounter("blobcache_gossip_state_transfer_bytes", () => new[]
        {
            By("direction", "sent", gossip.StreamBytesSent), By("direction", "received", gossip.StreamBytesReceived),
        }, "By", "Bytes of membership state transfers, as on the wire");
        metrics.Meter.CreateObservableCounter("blobcache_gossip_state_transfer_errors", () => new[]
        {
            By("reason", "send_failed", gossip.StreamSendFailures), By("reason", "rejected", gossip.StreamsRejected),
        }, "{transfer}", "State transfers that failed to go out (refused, timed out, queue full) or were refused on arrival (bounds, authentication, malformed)");
    }
}

/// <summary>Whether the origin answers, asked at most every few seconds.</summary>
internal sealed class OriginHealth(IBlobOrigin origin)
{
    private long _checkedAt = long.MinValue;
    private bool _up;

    public async Task<bool> IsUpAsync(CancellationToken ct)
    {
        if (Stopwatch.GetElapsedTime(Volatile.Read(ref _checkedAt)) < TimeSpan.FromSeconds(5) && _checkedAt != long.MinValue) return _up;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(3));
        _up = await origin.PingAsync(timeout.Token).ConfigureAwait(false);
        Volatile.Write(ref _checkedAt, Stopwatch.GetTimestamp());
        return _up;
    }
}
