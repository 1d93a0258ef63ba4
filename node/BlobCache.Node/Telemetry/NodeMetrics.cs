using System.Diagnostics.Metrics;

namespace BlobCache.Node.Telemetry;

/// <summary>Where a chunk read was served from.</summary>
public enum ReadSource { Memory, Disk, Peer, PeerRemoteRegion, Blob }

/// <summary>
/// The node's counters: OpenTelemetry instruments (exported on /metrics) backed by plain fields that
/// <c>/status</c> and the tests read directly.
/// </summary>
public sealed class NodeMetrics : IDisposable
{
    public const string MeterName = "BlobCache.Node";
    private static readonly string[] SourceNames = ["memory", "disk", "peer", "peer_remote_region", "blob"];

    private readonly Meter _meter = new(MeterName);
    private readonly long[] _reads = new long[SourceNames.Length];
    private readonly long[] _bytes = new long[SourceNames.Length];
    private long _blobGets, _peerServed, _peerServeMisses, _peerFailures, _originChanged, _originErrors;
    private long _peerHandoffs, _peerBusyAnswers, _peerRequests;
    private int _peerServing, _peerServingMax, _peerSending, _peerSendingMax;
    private readonly Histogram<double> _peerLatency;
    private readonly Counter<long> _readCounter, _byteCounter;

    public NodeMetrics()
    {
        _readCounter = _meter.CreateCounter<long>("blobcache_chunk_reads", "{chunk}", "Chunk reads by where they were served from");
        _byteCounter = _meter.CreateCounter<long>("blobcache_read_bytes", "By", "Bytes sent to readers, by where their chunk was served from");
        _peerLatency = _meter.CreateHistogram<double>("blobcache_peer_fetch_duration", "s", "Time to fetch one chunk from a peer");
        _meter.CreateObservableCounter("blobcache_blob_gets", () => Volatile.Read(ref _blobGets), "{request}", "Range GETs sent to Blob");
        _meter.CreateObservableCounter("blobcache_peer_served", () => Volatile.Read(ref _peerServed), "{chunk}", "Chunks this node served to peers");
        _meter.CreateObservableCounter("blobcache_peer_requests", () => Volatile.Read(ref _peerRequests), "{request}",
            "Chunk requests from peers this node took in (served, filled, missed or answered busy)");
        _meter.CreateObservableGauge("blobcache_hit_ratio", HitRatios, "1",
            "Share of chunk reads served by each tier since start (memory, disk, peer, peer_remote_region, blob)");
        _meter.CreateObservableGauge("blobcache_peer_serving", () => Volatile.Read(ref _peerServing), "{request}", "Peer requests being served now");
        _meter.CreateObservableGauge("blobcache_peer_sending", () => Volatile.Read(ref _peerSending), "{chunk}", "Chunks being sent to peers now (at most --max-peer-sends)");
        _meter.CreateObservableGauge("blobcache_peer_sending_max", () => Volatile.Read(ref _peerSendingMax), "{chunk}", "The most chunks sent to peers at once since start");
        _meter.CreateObservableCounter("blobcache_peer_handoffs", () => Volatile.Read(ref _peerHandoffs), "{chunk}",
            "Chunks this node got from a holder a busy owner named");
        _meter.CreateObservableCounter("blobcache_peer_busy_answers", () => Volatile.Read(ref _peerBusyAnswers), "{request}",
            "Peer requests this node answered busy (every send slot taken), naming holders instead");
        _meter.CreateObservableCounter("blobcache_origin_errors", () => Volatile.Read(ref _originErrors), "{request}",
            "Chunk reads from Blob that failed after the origin's retries (the readers got a 5xx)");
        _meter.CreateObservableCounter("blobcache_peer_failures", () => Volatile.Read(ref _peerFailures), "{request}", "Peer fetches that failed or timed out");
    }

    public Meter Meter => _meter;

    /// <summary>A reader's request got a chunk from <paramref name="source"/>.</summary>
    public void ChunkRead(ReadSource source)
    {
        Interlocked.Increment(ref _reads[(int)source]);
        _readCounter.Add(1, new KeyValuePair<string, object?>("source", SourceNames[(int)source]));
    }

    /// <summary>
    /// <paramref name="bytes"/> of a chunk from <paramref name="source"/> went to a reader: what the reader asked
    /// for, not the chunk's length (a 64 KiB range of a 4 MiB chunk counts 64 KiB).
    /// </summary>
    public void Served(ReadSource source, long bytes)
    {
        Interlocked.Add(ref _bytes[(int)source], bytes);
        _byteCounter.Add(bytes, new KeyValuePair<string, object?>("source", SourceNames[(int)source]));
    }

    public void BlobGet() => Interlocked.Increment(ref _blobGets);

    public void OriginError() => Interlocked.Increment(ref _originErrors);

    private IEnumerable<Measurement<double>> HitRatios()
    {
        long total = 0;
        for (int i = 0; i < _reads.Length; i++) total += Volatile.Read(ref _reads[i]);
        for (int i = 0; i < _reads.Length; i++)
        {
            double ratio = total == 0 ? 0 : Volatile.Read(ref _reads[i]) / (double)total;
            yield return new Measurement<double>(ratio, new KeyValuePair<string, object?>("source", SourceNames[i]));
        }
    }

    /// <summary>A peer request began (balance with <see cref="PeerServeEnded"/>); tracks the most served at once.</summary>
    public void PeerServeBegan()
    {
        Interlocked.Increment(ref _peerRequests);
        RaiseHighWater(Interlocked.Increment(ref _peerServing), ref _peerServingMax);
    }

    /// <summary>A chunk began going out to a peer (balance with <see cref="PeerSendEnded"/>); tracks the most at once.</summary>
    public void PeerSendBegan() => RaiseHighWater(Interlocked.Increment(ref _peerSending), ref _peerSendingMax);

    public void PeerSendEnded() => Interlocked.Decrement(ref _peerSending);

    private static void RaiseHighWater(int now, ref int max)
    {
        int seen;
        while (now > (seen = Volatile.Read(ref max)) && Interlocked.CompareExchange(ref max, now, seen) != seen)
        {
        }
    }

    public void PeerServeEnded() => Interlocked.Decrement(ref _peerServing);

    /// <summary>The most peer requests this node served at once since it started (the stampede figure).</summary>
    public int PeerServeMaxConcurrency => Volatile.Read(ref _peerServingMax);
    /// <summary>The most chunks this node sent to peers at once since it started (bounded by --max-peer-sends).</summary>
    public int PeerSendMaxConcurrency => Volatile.Read(ref _peerSendingMax);
    public int PeerSending => Volatile.Read(ref _peerSending);
    public void PeerServed() => Interlocked.Increment(ref _peerServed);
    public void PeerHandoff() => Interlocked.Increment(ref _peerHandoffs);
    public void PeerBusyAnswer() => Interlocked.Increment(ref _peerBusyAnswers);
    public long PeerHandoffs => Volatile.Read(ref _peerHandoffs);
    public long PeerBusyAnswers => Volatile.Read(ref _peerBusyAnswers);
    public void PeerServeMiss() => Interlocked.Increment(ref _peerServeMisses);
    public void PeerFailure() => Interlocked.Increment(ref _peerFailures);
    public void OriginChanged() => Interlocked.Increment(ref _originChanged);
    public void PeerLatency(TimeSpan elapsed, bool remoteRegion) =>
        _peerLatency.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("region", remoteRegion ? "remote" : "local"));

    public long BlobGets => Volatile.Read(ref _blobGets);
    public long PeerServedCount => Volatile.Read(ref _peerServed);
    public long PeerRequests => Volatile.Read(ref _peerRequests);
    public long PeerFailures => Volatile.Read(ref _peerFailures);
    public long OriginErrors => Volatile.Read(ref _originErrors);
    public long ReadsFrom(ReadSource source) => Volatile.Read(ref _reads[(int)source]);
    public long BytesFrom(ReadSource source) => Volatile.Read(ref _bytes[(int)source]);

    /// <summary>Counts by source name, for /status.</summary>
    public Dictionary<string, long> ReadsBySource() =>
        SourceNames.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => Volatile.Read(ref _reads[p.i]));

    public Dictionary<string, long> BytesBySource() =>
        SourceNames.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => Volatile.Read(ref _bytes[p.i]));

    public void Dispose() => _meter.Dispose();
}
