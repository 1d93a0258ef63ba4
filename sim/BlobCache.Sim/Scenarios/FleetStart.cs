using BlobCache.Mesh;
using BlobCache.Mesh.Membership;
using BlobCache.Protocol.Gossip;
using BlobCache.Sim.Engine;

namespace BlobCache.Sim.Scenarios;

/// <summary>
/// A whole fleet deploying (<c>bootstrap: fleet</c>): the seeds of each region start first, then every other node
/// starts at its time in the window and joins through its region's seeds. Measures how long after the last start
/// each view is exact, what the seeds served, and how evenly state transfers spread over the members.
/// </summary>
public sealed class FleetStart
{
    private readonly Scenario _scenario;
    private readonly SimCluster _cluster;
    private readonly int[][] _seeds;
    private readonly List<(long At, int Region, int Zone)> _starts = [];
    private readonly Dictionary<int, long> _requestsToSeeds = [];
    private readonly HashSet<int> _seedNodes = [];
    private double[] _exactAfterLastStart = [];
    private int _next;

    public FleetStart(Scenario scenario, SimCluster cluster)
    {
        _scenario = scenario;
        _cluster = cluster;
        _seeds = new int[scenario.Regions][];
        int others = scenario.Nodes - scenario.Regions * scenario.SeedsPerRegion;
        long window = Micros.From(TimeSpan.FromSeconds(scenario.StartSeconds));
        const int Waves = 6;
        int perWave = Math.Max(1, (others + Waves - 1) / Waves);
        for (int i = 0; i < others; i++)
        {
            long at = scenario.StartShape == "burst"
                // Wave w at w·window/6, its nodes spread over one second.
                ? i / perWave * (window / Waves) + i % perWave * Micros.PerSecond / perWave
                : (long)((i + 0.5) * window / others);
            _starts.Add((at, i % scenario.Regions, i / scenario.Regions % scenario.ZonesPerRegion));
        }
        _starts.Sort((a, b) => a.At.CompareTo(b.At));
    }

    /// <summary>When the last node starts, in microseconds.</summary>
    public long LastStart => _starts.Count == 0 ? 0 : _starts[^1].At;

    /// <summary>The seeds: the first of all starts alone, the others join through it; each region's are its zones' first.</summary>
    public void StartSeeds()
    {
        int first = -1;
        for (int r = 0; r < _scenario.Regions; r++)
        {
            _seeds[r] = new int[_scenario.SeedsPerRegion];
            for (int k = 0; k < _scenario.SeedsPerRegion; k++)
            {
                int node = _cluster.AddNode(r, k % _scenario.ZonesPerRegion, first < 0 ? [] : [first]);
                if (first < 0) first = node;
                _seeds[r][k] = node;
                _seedNodes.Add(node);
            }
        }
        _cluster.OnDeliver = (node, message) =>
        {
            if (message is PushPull { IsReply: false } && _seedNodes.Contains(node)) _requestsToSeeds[node] = _requestsToSeeds.GetValueOrDefault(node) + 1;
        };
    }

    /// <summary>Runs the cluster up to <paramref name="until"/>, starting each node at its time on the way.</summary>
    public void RunUntil(long until)
    {
        while (_next < _starts.Count && _starts[_next].At <= until)
        {
            (long at, int region, int zone) = _starts[_next++];
            _cluster.RunUntil(at);
            _cluster.AddNode(region, zone, _seeds[region]);
        }
        _cluster.RunUntil(until);
    }

    /// <summary>Once a second, after the last start: notes each node whose view has just become exact.</summary>
    public void Sample(double seconds, int running)
    {
        if (_next < _starts.Count) return;
        if (_exactAfterLastStart.Length == 0) _exactAfterLastStart = Enumerable.Repeat(double.NaN, _cluster.Nodes.Count).ToArray();
        double since = seconds - Micros.ToSeconds(LastStart);
        foreach (SimNode n in _cluster.Nodes)
        {
            if (!n.IsRunning || !double.IsNaN(_exactAfterLastStart[n.Index])) continue;
            MemberTable v = n.Swim.View;
            if (v.SuspectCount == 0 && v.AliveCount == running) _exactAfterLastStart[n.Index] = since;
        }
    }

    public FleetReport Report()
    {
        var running = _cluster.Nodes.Where(n => n.IsRunning).ToList();
        var exact = running.Select(n => _exactAfterLastStart.Length > n.Index ? _exactAfterLastStart[n.Index] : double.NaN).ToList();
        var known = exact.Where(e => !double.IsNaN(e)).Order().ToList();
        double mean = running.Count == 0 ? 0 : running.Average(n => (double)n.StreamsSent);
        SimNode busiest = running.MaxBy(n => n.StreamsSent) ?? _cluster.Nodes[0];
        return new FleetReport
        {
            LastStartSeconds = Micros.ToSeconds(LastStart),
            ExactAfterLastStart = known,
            NeverExact = exact.Count - known.Count,
            Seeds = _seedNodes.Order().Select(s => new SeedLoad(s, _cluster.Nodes[s].Info.Region, _requestsToSeeds.GetValueOrDefault(s),
                _cluster.Nodes[s].StreamsSent, _cluster.Nodes[s].StreamBytesSent)).ToList(),
            TransfersServedMean = mean,
            TransfersServedMax = busiest.StreamsSent,
            BytesServedMax = running.Count == 0 ? 0 : running.Max(n => n.StreamBytesSent),
            BytesReceivedMax = running.Count == 0 ? 0 : running.Max(n => n.StreamBytesReceived),
            LargestTransferBytes = _cluster.LargestStream,
        };
    }
}

/// <summary>What a fleet start measured (see <see cref="FleetStart"/>).</summary>
public sealed record FleetReport
{
    public double LastStartSeconds { get; init; }
    /// <summary>Per running node, sorted: seconds after the last start until its view was first exact (sampled each second).</summary>
    public IReadOnlyList<double> ExactAfterLastStart { get; init; } = [];
    /// <summary>Running nodes whose view was never exact after the last start.</summary>
    public int NeverExact { get; init; }
    public IReadOnlyList<SeedLoad> Seeds { get; init; } = [];
    /// <summary>State transfers each running node sent: the mean and the most any one sent.</summary>
    public double TransfersServedMean { get; init; }
    public long TransfersServedMax { get; init; }
    public long BytesServedMax { get; init; }
    public long BytesReceivedMax { get; init; }
    public long LargestTransferBytes { get; init; }

    public double ExactPercentile(double p) => SimReport.Percentile(ExactAfterLastStart, p, empty: -1);

    /// <summary>Seconds after the last start until every running view had been exact (-1 if some never was).</summary>
    public double AllExactAfterLastStart => NeverExact > 0 || ExactAfterLastStart.Count == 0 ? -1 : ExactAfterLastStart[^1];

    /// <summary>The busiest member's state transfers over the mean.</summary>
    public double TransfersServedMaxOverMean => TransfersServedMean == 0 ? 0 : TransfersServedMax / TransfersServedMean;
}

/// <summary>What one seed served: push-pull requests received (joins and syncs), and state transfers and bytes sent.</summary>
public readonly record struct SeedLoad(int Node, int Region, long Requests, long Transfers, long Bytes);
