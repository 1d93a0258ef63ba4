using System.Runtime.InteropServices;

namespace BlobCache.Mesh.Origin;

/// <summary>
/// Decides whether a storage account serves a request or answers 503 ServerBusy, from <see cref="OriginLimits"/>:
/// token buckets for the account's requests, each blob's requests and the account's egress, each holding
/// <see cref="OriginLimits.BurstSeconds"/> of its rate. No I/O and no clock: the caller passes the time in, so the
/// simulator's origin and a real process's throttling proxy make the same decision for the same requests.
/// </summary>
/// <remarks>
/// A refused request takes no tokens: a client that backs off gets in once the rate allows, whereas charging
/// refusals would let a retry storm lock every client out for as long as it lasts. Egress may go into debt by
/// one response, so a chunk larger than what is left still goes out and the next request waits for the debt.
/// </remarks>
public sealed class OriginThrottle
{
    private const long Unit = Micros.PerSecond; // one request, in millionths, so a bucket refills in whole numbers per microsecond

    private readonly OriginLimits _limits;
    private readonly long _burstMicros;
    private Bucket _account, _egress;
    private readonly Dictionary<ulong, Bucket> _blobs = [];
    private int _pruneAt = 4096;
    private readonly long[] _served = new long[4];
    private readonly long[] _refused = new long[4];
    private long _second = -1, _inSecond;

    public OriginThrottle(OriginLimits limits)
    {
        limits.Validate();
        _limits = limits;
        _burstMicros = (long)(limits.BurstSeconds * Micros.PerSecond);
        _account = Bucket.Full(AccountCapacity, 0);
        _egress = Bucket.Full(EgressCapacity, 0);
    }

    public OriginLimits Limits => _limits;

    private long AccountCapacity => _limits.AccountRequestsPerSecond * _burstMicros;
    private long BlobCapacity => _limits.BlobRequestsPerSecond * _burstMicros;
    private long EgressCapacity => (long)(_limits.AccountEgressBytesPerSecond * _limits.BurstSeconds);

    /// <summary>
    /// Whether the account serves a request of <paramref name="kind"/> on the blob keyed <paramref name="blobKey"/>
    /// (0 for a request that names no blob: a listing, container properties) that sends <paramref name="bytes"/> back,
    /// at <paramref name="now"/> microseconds. Times passed in must not go backwards.
    /// </summary>
    public OriginVerdict Admit(long now, OriginRequestKind kind, ulong blobKey, long bytes)
    {
        OriginVerdict verdict = Decide(now, blobKey, bytes);
        if (verdict == OriginVerdict.Served)
        {
            _served[(int)kind]++;
            CountSecond(now);
        }
        else
        {
            _refused[(int)verdict]++;
        }
        return verdict;
    }

    private OriginVerdict Decide(long now, ulong blobKey, long bytes)
    {
        bool limitAccount = _limits.AccountRequestsPerSecond > 0;
        if (limitAccount)
        {
            _account.Refill(now, _limits.AccountRequestsPerSecond, AccountCapacity);
            if (_account.Tokens < Unit) return OriginVerdict.AccountRequests;
        }
        bool limitEgress = _limits.AccountEgressGbps > 0;
        if (limitEgress)
        {
            // Bytes per second over a microsecond clock: refilled per whole second's worth to stay in integers.
            _egress.RefillBytes(now, _limits.AccountEgressBytesPerSecond, EgressCapacity);
            if (_egress.Tokens <= 0) return OriginVerdict.AccountEgress;
        }
        if (_limits.BlobRequestsPerSecond > 0 && blobKey != 0)
        {
            if (_blobs.Count >= _pruneAt) Prune(now);
            ref Bucket blob = ref CollectionsMarshal.GetValueRefOrAddDefault(_blobs, blobKey, out bool known);
            if (!known) blob = Bucket.Full(BlobCapacity, now);
            blob.Refill(now, _limits.BlobRequestsPerSecond, BlobCapacity);
            if (blob.Tokens < Unit) return OriginVerdict.BlobRequests;
            blob.Tokens -= Unit;
        }
        if (limitAccount) _account.Tokens -= Unit;
        if (limitEgress) _egress.Tokens -= bytes;
        return OriginVerdict.Served;
    }

    // A blob's bucket that has refilled completely is the same as no bucket: dropping it bounds memory by the blobs
    // requested within one burst window, not by every blob ever requested.
    private void Prune(long now)
    {
        foreach ((ulong key, Bucket b) in _blobs)
        {
            if (now - b.Last >= _burstMicros) _blobs.Remove(key);
        }
        _pruneAt = Math.Max(4096, _blobs.Count * 2);
    }

    private void CountSecond(long now)
    {
        long second = now / Micros.PerSecond;
        if (second != _second)
        {
            _second = second;
            _inSecond = 0;
        }
        PeakRequestsPerSecond = Math.Max(PeakRequestsPerSecond, ++_inSecond);
    }

    /// <summary>Requests served, of one kind.</summary>
    public long Served(OriginRequestKind kind) => _served[(int)kind];

    /// <summary>Requests refused (503), for one reason.</summary>
    public long Refused(OriginVerdict reason) => _refused[(int)reason];

    public long ServedTotal => _served.Sum();

    public long RefusedTotal => _refused.Sum();

    /// <summary>The most requests served within one whole second of the clock passed in.</summary>
    public long PeakRequestsPerSecond { get; private set; }

    /// <summary>Blobs with a bucket not yet refilled (what the throttle holds in memory).</summary>
    public int TrackedBlobs => _blobs.Count;

    private struct Bucket
    {
        public long Tokens, Last;

        public static Bucket Full(long capacity, long now) => new() { Tokens = capacity, Last = now };

        /// <summary>Adds <paramref name="perSecond"/> requests' worth of tokens per second since the last refill.</summary>
        public void Refill(long now, long perSecond, long capacity)
        {
            long elapsed = now - Last;
            if (elapsed <= 0) return;
            Last = now;
            // A bucket idle for a whole burst window is full; testing that first keeps the product from overflowing.
            Tokens = elapsed >= capacity / perSecond ? capacity : Math.Min(capacity, Tokens + elapsed * perSecond);
        }

        public void RefillBytes(long now, long bytesPerSecond, long capacity)
        {
            long elapsed = now - Last;
            if (elapsed <= 0) return;
            Last = now;
            Tokens = (long)Math.Min(capacity, Tokens + elapsed * (double)bytesPerSecond / Micros.PerSecond);
        }
    }
}
