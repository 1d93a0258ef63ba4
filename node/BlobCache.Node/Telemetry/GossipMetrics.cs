using System.Diagnostics.Metrics;
using BlobCache.Node.Gossip;

namespace BlobCache.Node.Telemetry;

/// <summary>The gossip host's instruments: the membership it sees, and the datagrams and state transfers that carry it.</summary>
internal static class GossipMetrics
{
    public static void Register(NodeMetrics metrics, GossipHost gossip)
    {
        static Measurement<long> By(string label, string value, long count) => new(count, new KeyValuePair<string, object?>(label, value));
        metrics.Meter.CreateObservableGauge("blobcache_members", () =>
        {
            MeshSnapshot s = gossip.Current;
            return s.Members.GroupBy(m => m.State).Select(g =>
                new Measurement<int>(g.Count(), new KeyValuePair<string, object?>("state", g.Key.ToString().ToLowerInvariant())));
        }, "{member}", "Members of the mesh by state, as this node sees them");
        metrics.Meter.CreateObservableCounter("blobcache_gossip_packets_dropped", () => new[]
        {
            By("reason", "unauthenticated", gossip.UnauthenticatedPackets), By("reason", "malformed", gossip.DroppedPackets),
        }, "{packet}", "Gossip packets dropped: failed authentication (never parsed), or authenticated but failed to decode");
        metrics.Meter.CreateObservableCounter("blobcache_gossip_oversize_datagrams", () => gossip.OversizeDatagrams, "{message}",
            "Gossip messages not sent because they exceed the datagram budget without being state (a bug: each is logged)");
        metrics.Meter.CreateObservableCounter("blobcache_gossip_rumours_dropped", () => gossip.RumoursDropped, "{rumour}",
            "Alive rumours dropped unsent because the gossip queue held its bound of them (a fleet starting at once; push-pull repairs them)");
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
