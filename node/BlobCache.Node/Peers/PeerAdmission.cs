using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;

namespace BlobCache.Node.Peers;

/// <summary>Why a peer request was turned away before any work was done for it.</summary>
public enum PeerRefusal { None, Busy, RateLimited }

/// <summary>
/// The owner's bounds on peer requests, whatever the transport: at most <c>maxConcurrent</c> served at once (the
/// rest are refused at once, so the requester moves on to the next owner or Blob instead of queueing behind a
/// stampede), and a token bucket per peer address (<c>ratePerSecond</c> requests a second, bursts of one second).
/// </summary>
public sealed class PeerAdmission(int maxConcurrent, int ratePerSecond)
{
    // Bounds the table of buckets: beyond it idle buckets are dropped (a dropped peer starts with a full bucket).
    private const int MaxTrackedPeers = 65_536;
    private readonly ConcurrentDictionary<IPAddress, Bucket> _buckets = new();
    private int _inFlight;
    private long _busy, _rateLimited;

    public int MaxConcurrent => maxConcurrent;
    public int RatePerSecond => ratePerSecond;
    public long RefusedBusy => Interlocked.Read(ref _busy);
    public long RefusedRateLimited => Interlocked.Read(ref _rateLimited);

    /// <summary>Admits a request from <paramref name="peer"/> (call <see cref="Exit"/> when it ends) or says why not.</summary>
    public PeerRefusal TryEnter(IPAddress? peer)
    {
        if (ratePerSecond > 0 && peer is not null && !Take(peer))
        {
            Interlocked.Increment(ref _rateLimited);
            return PeerRefusal.RateLimited;
        }
        if (Interlocked.Increment(ref _inFlight) > maxConcurrent)
        {
            Interlocked.Decrement(ref _inFlight);
            Interlocked.Increment(ref _busy);
            return PeerRefusal.Busy;
        }
        return PeerRefusal.None;
    }

    public void Exit() => Interlocked.Decrement(ref _inFlight);

    /// <summary>The one-line reason a refused peer is told.</summary>
    public string Describe(PeerRefusal refusal) => refusal == PeerRefusal.Busy
        ? $"owner busy: {maxConcurrent} peer requests in flight (--max-peer-requests)"
        : $"rate limited: more than {ratePerSecond} requests a second from this address (--peer-rate-limit)";

    private bool Take(IPAddress peer)
    {
        if (peer.IsIPv4MappedToIPv6) peer = peer.MapToIPv4();
        if (!_buckets.TryGetValue(peer, out Bucket? bucket))
        {
            if (_buckets.Count >= MaxTrackedPeers) Sweep();
            bucket = _buckets.GetOrAdd(peer, _ => new Bucket(ratePerSecond));
        }
        return bucket.Take(ratePerSecond);
    }

    private void Sweep()
    {
        long now = Stopwatch.GetTimestamp();
        foreach ((IPAddress key, Bucket b) in _buckets)
        {
            if (b.IdleFor(now) > TimeSpan.FromSeconds(1)) _buckets.TryRemove(key, out _);
        }
    }

    private sealed class Bucket(int capacity)
    {
        private readonly Lock _gate = new();
        private double _tokens = capacity;
        private long _at = Stopwatch.GetTimestamp();

        public TimeSpan IdleFor(long now) => Stopwatch.GetElapsedTime(Volatile.Read(ref _at), now);

        public bool Take(int rate)
        {
            lock (_gate)
            {
                long now = Stopwatch.GetTimestamp();
                _tokens = Math.Min(rate, _tokens + Stopwatch.GetElapsedTime(_at, now).TotalSeconds * rate);
                _at = now;
                if (_tokens < 1) return false;
                _tokens -= 1;
                return true;
            }
        }
    }
}
