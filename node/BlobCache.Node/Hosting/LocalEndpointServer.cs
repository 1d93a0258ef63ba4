using System.Diagnostics.Metrics;
using System.Net;
using BlobCache.Http;
using BlobCache.Node.Config;
using BlobCache.Node.Endpoint;
using BlobCache.Node.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Hosting;

/// <summary>
/// Serves the local endpoint with the event-loop server and the gRPC port with Kestrel, one application for both:
/// the host's server becomes the pair (Kestrel stays registered under its own type, configured as before).
/// </summary>
internal static class LocalEndpointServer
{
    public static void UseLoopServer(WebApplicationBuilder builder, IPEndPoint endPoint, NodeOptions options, ILoggerFactory loggers, NodeMetrics metrics)
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
        RegisterMetrics(metrics, server);
    }

    private static void RegisterMetrics(NodeMetrics metrics, LoopServer server)
    {
        metrics.Meter.CreateObservableGauge("blobcache_http_connections", () => server.OpenConnections, "{connection}",
            "Connections open on the local endpoint");
        metrics.Meter.CreateObservableGauge("blobcache_http_body_bytes", () => server.BufferedBodyBytes, "By",
            "Request body memory the local endpoint has set aside now: each kept body's length (a chunked body's limit), within 32 MiB; bodies of GET and HEAD are dropped");
        metrics.Meter.CreateObservableCounter("blobcache_http_refused", () => Enum.GetValues<Refusal>().Select(r =>
            new Measurement<long>(server.Refused(r), new KeyValuePair<string, object?>("reason", r.Label()))),
            "{request}", "Local endpoint connections and requests turned away by the server before any handler: malformed or oversized " +
            "(malformed), closed at accept over the limit (connections), shed near the limit (shed), not arrived whole in time (timeout), " +
            "over the request-body memory budget (body_memory), a non-probe request in the probes' reserve (reserve)");
    }
}
