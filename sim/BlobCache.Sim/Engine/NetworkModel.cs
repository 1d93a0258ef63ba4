using BlobCache.Mesh;

namespace BlobCache.Sim.Engine;

/// <summary>
/// Latency, jitter, loss and partitions between simulated nodes. Latency comes from where the two nodes are
/// (same zone, other zone, other region); partitions put nodes in numbered groups that cannot reach each other.
/// </summary>
public sealed class NetworkModel
{
    public long SameZoneMicros { get; set; } = 200;
    public long CrossZoneMicros { get; set; } = 1_000;
    /// <summary>One-way latency between regions i and j (symmetric); 30–150 ms by default, spread by region distance.</summary>
    public Func<int, int, long> CrossRegionMicros { get; set; } = (a, b) => Math.Min(150_000L, 30_000L + 40_000L * (Math.Abs(a - b) - 1));
    /// <summary>Jitter as a fraction of the base latency, added uniformly.</summary>
    public double Jitter { get; set; } = 0.1;
    /// <summary>Probability that any one datagram is lost (streams retransmit, so they are not).</summary>
    public double Loss { get; set; }
    /// <summary>What one state transfer gets of a node's link, bytes per second: 1 Gbit/s, a tenth of a small cloud VM's NIC.</summary>
    public long StreamBytesPerSecond { get; set; } = 125_000_000;

    /// <summary>Time for <paramref name="bytes"/> to pass through one end's link.</summary>
    public long StreamMicros(long bytes) => Math.Max(1, bytes * Micros.PerSecond / StreamBytesPerSecond);

    private int[] _group = [];

    public void EnsureNodes(int count)
    {
        if (_group.Length < count) Array.Resize(ref _group, Math.Max(count, _group.Length * 2));
    }

    /// <summary>Cuts the given nodes off from everyone else (and from other cut-off groups).</summary>
    public void Partition(IEnumerable<int> nodes, int group = 1)
    {
        foreach (int n in nodes) _group[n] = group;
    }

    public void Heal() => Array.Clear(_group);

    public bool CanReach(int from, int to) => _group[from] == _group[to];

    public long Latency(in SimNodeInfo from, in SimNodeInfo to, DeterministicRandom random)
    {
        long baseMicros = from.Region != to.Region
            ? CrossRegionMicros(Math.Min(from.Region, to.Region), Math.Max(from.Region, to.Region))
            : from.Zone != to.Zone ? CrossZoneMicros : SameZoneMicros;
        long jitter = Jitter > 0 ? (long)(random.NextDouble() * Jitter * baseMicros) : 0;
        return Math.Max(1, baseMicros + jitter);
    }
}

/// <summary>Where a simulated node sits.</summary>
public readonly record struct SimNodeInfo(int Region, int Zone);
