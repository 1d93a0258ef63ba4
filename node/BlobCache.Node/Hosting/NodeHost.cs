using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using BlobCache.Node.Config;
using BlobCache.Node.Endpoint;
using BlobCache.Node.Gossip;
using BlobCache.Node.Origin;
using BlobCache.Node.Peers;
using BlobCache.Node.Peers.Tcp;
using BlobCache.Node.Peers.Udp;
using BlobCache.Node.Reading;
using BlobCache.Node.Telemetry;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
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
            origin = OriginFactory.Create(options.Origin);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"blobcache: --origin: {e.Message}");
            return 2;
        }

        using ILoggerFactory loggers = LoggerFactory.Create(b => ConfigureLogging(b, options));
        ILogger log = loggers.CreateLogger("blobcache");

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

        var gossip = new GossipHost(options, loggers.CreateLogger("blobcache.gossip"));
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
        // Every server always runs (a mesh may mix transports while it is rolled over); the client picks one.
        IChunkPeerClient peers = options.PeerTransport switch
        {
            PeerTransport.Udp => new UdpChunkPeerClient(options.NodeId, options.ChunkSize, loggers.CreateLogger("blobcache.udp")),
            PeerTransport.Tcp => new TcpChunkPeerClient(options.NodeId),
            _ => new GrpcChunkPeerClient(options.NodeId),
        };
        var reader = new ChunkReader(options, store, origin, gossip, peers, metrics, loggers.CreateLogger("blobcache.read"));
        var tcpService = new TcpChunkService(reader, origin, metrics, loggers.CreateLogger("blobcache.tcp"));
        var udpServer = new UdpChunkServer(options, reader, origin, metrics, loggers.CreateLogger("blobcache.udp"));
        try
        {
            udpServer.Start();
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
        var metadata = new BlobMetadataCache(origin, TimeSpan.FromSeconds(options.MetadataTtlSeconds));
        var endpoint = new BlobEndpoint(origin, metadata, reader, loggers.CreateLogger<BlobEndpoint>());
        var health = new OriginHealth(origin);
        var warm = new WarmUp(reader, origin, gossip, peers, TimeSpan.FromMilliseconds(options.PeerTimeoutMs), loggers.CreateLogger("blobcache.warm"));
        RegisterGauges(metrics, store, gossip);
        long UdpDropped() => udpServer.DroppedFrames + (peers is UdpChunkPeerClient u ? u.DroppedFrames : 0);
        metrics.Meter.CreateObservableCounter("blobcache_udp_frames_dropped", UdpDropped,
            "{frame}", "UDP chunk-transport frames that failed to decode or broke the protocol");

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        ConfigureLogging(builder.Logging, options);
        IPAddress bind = IPAddress.Parse(GossipHost.BindAddress(options.Host));
        if (options.InlineIo) builder.WebHost.UseSockets(s => s.UnsafePreferInlineScheduling = true);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(bind, options.HttpPort, l => l.Protocols = HttpProtocols.Http1);
            k.Listen(bind, options.GrpcPort, l =>
            {
                l.Protocols = HttpProtocols.Http2;
                l.Use(tcpService.Middleware); // framed-TCP peers share the port: their connections open with a magic, HTTP/2 with its preface
            });
            k.Limits.MaxRequestBodySize = 1024 * 1024;
            // Kestrel pauses a response writer once this much is buffered; the 64 KiB default turns every 4 MiB
            // chunk (HTTP or gRPC) into dozens of flush round trips.
            k.Limits.MaxResponseBufferSize = 8 * 1024 * 1024;
            k.Limits.Http2.InitialStreamWindowSize = 4 * 1024 * 1024;
            k.Limits.Http2.InitialConnectionWindowSize = 16 * 1024 * 1024;
        });
        // gRPC takes a registered service instance when there is one: the node's own, with its read path.
        builder.Services.AddSingleton(new GrpcChunkService(reader, origin, metrics, loggers.CreateLogger<GrpcChunkService>()));
        builder.Services.AddGrpc(g => g.MaxSendMessageSize = 8 * 1024 * 1024);
        builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(NodeMetrics.MeterName).AddPrometheusExporter());

        WebApplication app = builder.Build();
        app.MapGrpcService<GrpcChunkService>().RequireHost($"*:{options.GrpcPort}");

        string httpHost = $"*:{options.HttpPort}";
        app.MapPrometheusScrapingEndpoint("/metrics").RequireHost(httpHost);
        app.MapGet("/healthz", () => Results.Text("ok\n")).RequireHost(httpHost);
        app.MapGet("/readyz", async (CancellationToken ct) =>
        {
            bool joined = gossip.Joined;
            bool originUp = await health.IsUpAsync(ct).ConfigureAwait(false);
            string text = $"joined={joined.ToString().ToLowerInvariant()} origin={(originUp ? "up" : "down")}\n";
            return joined && originUp ? Results.Text(text) : Results.Text(text, statusCode: 503);
        }).RequireHost(httpHost);
        app.MapGet("/status", () => Results.Json(StatusReport.Build(options, gossip, store, metrics, UdpDropped()), StatusJson.Default.StatusReport)).RequireHost(httpHost);
        app.MapPost("/warm", (HttpContext context) => WarmEndpoint.HandleAsync(context, warm, origin)).RequireHost(httpHost);
        // Everything else is the Blob API; "{**path}" also takes names with dots, which the default fallback skips.
        app.MapFallback("{**path}", endpoint.HandleAsync).RequireHost(httpHost);

        IHostApplicationLifetime lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        lifetime.ApplicationStopping.Register(() =>
        {
            log.LogInformation("stopping: leaving the mesh");
            gossip.LeaveAsync(TimeSpan.FromSeconds(3)).GetAwaiter().GetResult();
        });

        try
        {
            await app.StartAsync().ConfigureAwait(false);
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"blobcache: cannot listen on --http-port {options.HttpPort} / --grpc-port {options.GrpcPort}: {e.Message}");
            await udpServer.DisposeAsync().ConfigureAwait(false);
            await peers.DisposeAsync().ConfigureAwait(false);
            await gossip.DisposeAsync().ConfigureAwait(false);
            return 2;
        }
        log.LogInformation("blobcache {Id} serving http://{Host}:{Port}/{Account} (origin: {Origin}; chunk {Chunk} MiB; memory {Memory} MiB; disk {Disk}; peers over {Transport}; inline io {Inline})",
            options.NodeId, options.Advertised, options.HttpPort, origin.AccountName, origin.Describe, options.ChunkSizeMb, options.MemoryMb,
            options.CacheDir is null ? "off" : $"{options.DiskMb} MiB in {options.CacheDir}", options.PeerTransport.ToString().ToLowerInvariant(), options.InlineIo);
        await app.WaitForShutdownAsync().ConfigureAwait(false);

        await udpServer.DisposeAsync().ConfigureAwait(false);
        await store.FlushAsync().ConfigureAwait(false);
        reader.Dispose();
        await peers.DisposeAsync().ConfigureAwait(false);
        await gossip.DisposeAsync().ConfigureAwait(false);
        store.Dispose();
        metrics.Dispose();
        await app.DisposeAsync().ConfigureAwait(false);
        return 0;
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
        metrics.Meter.CreateObservableCounter("blobcache_gossip_packets_dropped", () => gossip.DroppedPackets, "{packet}", "Gossip packets that failed to decode");
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
