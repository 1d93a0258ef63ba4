using BlobCache.Node.Origin;

namespace BlobCache.Node.Telemetry;

/// <summary>The origin's instruments: what Blob refused, which the read counters cannot show (a retried refusal ends as a read).</summary>
internal static class OriginMetrics
{
    public static void Register(NodeMetrics metrics, IBlobOrigin origin)
    {
        if (origin is not AzureBlobOrigin azure) return; // the built-in sample origin never refuses
        metrics.Meter.CreateObservableCounter("blobcache_origin_server_busy", () => azure.ServerBusyResponses, "{response}",
            "Attempts Blob answered 503 ServerBusy or 429 (the account's or a blob's request limit); each was retried after the origin backoff");
    }
}
