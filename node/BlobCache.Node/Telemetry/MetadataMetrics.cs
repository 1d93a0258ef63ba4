using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace BlobCache.Node.Telemetry;

/// <summary>
/// How this node learned blob properties (from a peer, or from Blob) and how many peers asked it: the figures that
/// show whether metadata load on Blob stays per region and whether one node carries too much of it (a hot key).
/// </summary>
public sealed class MetadataMetrics
{
    private long _fromPeers, _fromBlob, _peerFailures, _served, _servedContent, _peakPerSecond;
    private long _windowStart = Stopwatch.GetTimestamp(), _windowCount;
    private readonly Lock _window = new();

    public MetadataMetrics(Meter meter)
    {
        meter.CreateObservableCounter("blobcache_metadata_lookups", () => new[]
        {
            new Measurement<long>(Volatile.Read(ref _fromPeers), new KeyValuePair<string, object?>("source", "peer")),
            new Measurement<long>(Volatile.Read(ref _fromBlob), new KeyValuePair<string, object?>("source", "blob")),
        }, "{request}", "Blob property lookups past this node's cache, by who answered");
        meter.CreateObservableCounter("blobcache_metadata_peer_failures", () => Volatile.Read(ref _peerFailures), "{request}",
            "Metadata requests to a peer that failed or timed out (the node then asked the next place)");
        meter.CreateObservableCounter("blobcache_metadata_served", () => Volatile.Read(ref _served), "{request}", "Metadata requests this node answered for peers");
        meter.CreateObservableCounter("blobcache_metadata_content_served", () => Volatile.Read(ref _servedContent), "{request}",
            "Answers to peers that carried a one-chunk blob's bytes with its properties");
        meter.CreateObservableGauge("blobcache_metadata_served_peak_per_second", () => Volatile.Read(ref _peakPerSecond), "{request}/s",
            "The most metadata requests this node answered for peers in one second since start (a hot key's load on its owner)");
    }

    public long FromPeers => Volatile.Read(ref _fromPeers);
    public long FromBlob => Volatile.Read(ref _fromBlob);
    public long Served => Volatile.Read(ref _served);
    public long ContentServed => Volatile.Read(ref _servedContent);
    public long PeakServedPerSecond => Volatile.Read(ref _peakPerSecond);

    public void AnsweredByPeer() => Interlocked.Increment(ref _fromPeers);

    public void AnsweredByBlob() => Interlocked.Increment(ref _fromBlob);

    public void PeerFailed() => Interlocked.Increment(ref _peerFailures);

    public void ServedContent() => Interlocked.Increment(ref _servedContent);

    public void ServedPeer()
    {
        Interlocked.Increment(ref _served);
        lock (_window)
        {
            long now = Stopwatch.GetTimestamp();
            if (now - _windowStart >= Stopwatch.Frequency)
            {
                _windowStart = now;
                _windowCount = 0;
            }
            if (++_windowCount > _peakPerSecond) Volatile.Write(ref _peakPerSecond, _windowCount);
        }
    }
}
