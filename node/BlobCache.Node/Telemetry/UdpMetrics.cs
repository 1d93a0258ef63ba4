using BlobCache.Node.Peers.Udp;

namespace BlobCache.Node.Telemetry;

/// <summary>The UDP chunk transport's instruments.</summary>
internal static class UdpMetrics
{
    public static void Register(NodeMetrics metrics, Func<long> framesDropped, UdpChunkServer server)
    {
        metrics.Meter.CreateObservableCounter("blobcache_udp_frames_dropped", framesDropped,
            "{frame}", "UDP chunk-transport frames that failed to decode or broke the protocol, and datagrams the UDP library discarded as malformed");
        metrics.Meter.CreateObservableCounter("blobcache_udp_connections_unauthenticated", () => server.UnauthenticatedConnections,
            "{connection}", "UDP chunk-transport connection requests refused for a missing, stale or bad credential");
    }
}
