using System.Diagnostics.Metrics;
using BlobCache.Node.Peers;
using BlobCache.Node.Security;

namespace BlobCache.Node.Telemetry;

/// <summary>The instruments of what keeps strangers out: peer TLS, peer admission, the endpoint's token, the gossip keyring.</summary>
internal static class SecurityMetrics
{
    private static Measurement<long> By(string label, string value, long count) => new(count, new KeyValuePair<string, object?>(label, value));

    public static void RegisterPeerTls(NodeMetrics metrics, PeerTls? tls)
    {
        metrics.Meter.CreateObservableCounter("blobcache_peer_tls_refused", () => tls?.RefusedHandshakes ?? 0, "{connection}",
            "gRPC peer connections closed at the TLS handshake (no certificate, one the mesh CA did not sign, or plain text)");
        metrics.Meter.CreateObservableCounter("blobcache_tls_reloads", () => new[]
        {
            By("result", "ok", tls?.Reloads ?? 0), By("result", "failed", tls?.ReloadFailures ?? 0),
        }, "{reload}", "Reloads of the peer TLS files after they changed");
    }

    public static void RegisterEndpointAccess(NodeMetrics metrics, EndpointAccess access)
    {
        metrics.Meter.CreateObservableCounter("blobcache_endpoint_refused", () => new[]
        {
            By("reason", "unauthenticated", access.Unauthenticated), By("reason", "forbidden", access.Forbidden),
        }, "{request}", "Local endpoint requests refused for a missing or wrong token, or a container outside --allowed-containers");
    }

    public static void RegisterPeerAdmission(NodeMetrics metrics, PeerAdmission admission)
    {
        metrics.Meter.CreateObservableCounter("blobcache_peer_requests_refused", () => new[]
        {
            By("reason", "busy", admission.RefusedBusy), By("reason", "rate", admission.RefusedRateLimited),
        }, "{request}", "Peer chunk requests refused by --max-peer-requests (busy) or --peer-rate-limit (rate)");
    }

    public static void RegisterKeyring(NodeMetrics metrics, GossipKeyFile? keyFile)
    {
        if (keyFile is null) return;
        metrics.Meter.CreateObservableCounter("blobcache_gossip_keyring_reloads", () => new[]
        {
            By("result", "applied", keyFile.Reloads), By("result", "rejected", keyFile.ReloadErrors),
        }, "{reload}", "Changes of the gossip key file: applied, or rejected (the previous keyring stayed in use)");
        metrics.Meter.CreateObservableCounter("blobcache_gossip_packets_opened", () => keyFile.Current.Keys.Select(k => By("key", k.Id, k.PacketsOpened)),
            "{packet}", "Gossip packets authenticated, by key fingerprint: a key whose count stopped growing is no longer used by any node");
    }
}
