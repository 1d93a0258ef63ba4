using System.Diagnostics.Metrics;
using BlobCache.Store;

namespace BlobCache.Node.Telemetry;

/// <summary>The chunk store's instruments: what each tier holds and loses.</summary>
internal static class StoreMetrics
{
    public static void Register(NodeMetrics metrics, ChunkStore store)
    {
        static Measurement<long> Tier(string tier, long value) => new(value, new KeyValuePair<string, object?>("tier", tier));
        metrics.Meter.CreateObservableGauge("blobcache_cache_bytes", () => new[]
        {
            Tier("memory", store.Stats.MemoryBytes), Tier("disk", store.Stats.DiskBytes),
        }, "By", "Bytes held by each cache tier");
        metrics.Meter.CreateObservableCounter("blobcache_evictions", () => new[]
        {
            Tier("memory", store.Stats.MemoryEvictions), Tier("disk", store.Stats.DiskEvictions),
        }, "{chunk}", "Chunks evicted from each tier");
        metrics.Meter.CreateObservableCounter("blobcache_disk_corrupt_files", () => store.Stats.CorruptFiles, "{file}",
            "Chunk files that failed verification (truncated, bad checksum, not ours) and were deleted; each read was a miss");
        metrics.Meter.CreateObservableCounter("blobcache_disk_write_errors", () => store.Stats.DiskWriteErrors, "{chunk}",
            "Chunk writes to the disk tier that failed (full disk, unwritable directory); memory kept serving");
    }
}
