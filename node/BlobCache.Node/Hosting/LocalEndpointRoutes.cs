using BlobCache.Node.Config;
using BlobCache.Node.Endpoint;
using BlobCache.Node.Gossip;
using BlobCache.Node.Origin;
using BlobCache.Node.Reading;
using BlobCache.Node.Security;
using BlobCache.Node.Telemetry;
using BlobCache.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace BlobCache.Node.Hosting;

/// <summary>Everything the local endpoint answers, in one place: probes, metrics, status, warm-up, and the Blob API.</summary>
internal sealed record LocalEndpointRoutes(
    NodeOptions Options, IBlobOrigin Origin, GossipHost Gossip, ChunkStore Store, NodeMetrics Metrics,
    BlobEndpoint Blobs, WarmUp Warm, GossipKeyFile? KeyFile, Func<long> UdpFramesDropped, Func<long> UdpUnauthenticated, MetadataMetrics? MetadataMetrics = null)
{
    public void Map(WebApplication app, EndpointAccess access)
    {
        int httpPort = Options.HttpPort, grpcPort = Options.GrpcPort;
        // Everything but the gRPC port goes through the endpoint's access rules (gRPC has mutual TLS instead).
        app.Use((context, next) => context.Connection.LocalPort != grpcPort ? access.InvokeAsync(context, next) : next(context));
        // By the port a request came in on, not its Host header: clients reach the node under other names and ports.
        var health = new OriginHealth(Origin);
        app.MapPrometheusScrapingEndpoint("/metrics").RequireLocalPort(httpPort);
        // Request delegates (HttpContext in, Task out) rather than handlers with bound parameters: those need code
        // generated at run time, which a native (AOT) build cannot do.
        app.MapGet("/healthz", context => Results.Text("ok\n").ExecuteAsync(context)).RequireLocalPort(httpPort);
        app.MapGet("/readyz", async context =>
        {
            bool joined = Gossip.Joined;
            bool originUp = await health.IsUpAsync(context.RequestAborted).ConfigureAwait(false);
            string text = $"joined={joined.ToString().ToLowerInvariant()} origin={(originUp ? "up" : "down")}\n";
            await (joined && originUp ? Results.Text(text) : Results.Text(text, statusCode: 503)).ExecuteAsync(context).ConfigureAwait(false);
        }).RequireLocalPort(httpPort);
        app.MapGet("/status", context => Results.Json(StatusReport.Build(Options, Gossip, Store, Metrics, UdpFramesDropped(), KeyFile, UdpUnauthenticated(), MetadataMetrics),
            StatusJson.Default.StatusReport).ExecuteAsync(context)).RequireLocalPort(httpPort);
        app.MapPost("/warm", (HttpContext context) => WarmEndpoint.HandleAsync(context, Warm, Origin)).RequireLocalPort(httpPort);
        // Everything else is the Blob API; "{**path}" also takes names with dots, which the default fallback skips.
        app.MapFallback("{**path}", Blobs.HandleAsync).RequireLocalPort(httpPort);
    }
}
