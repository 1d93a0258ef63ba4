using System.Diagnostics;
using BlobCache.Mesh.Placement;

namespace BlobCache.Benchmarks;

/// <summary>
/// `balance --nodes N --keys K [--weights uniform|mixed] [--seed S] [--probes P] [--points V]`: assigns K keys
/// (streamed, never stored) with our placement and with a uniform random assignment of the same key count
/// (weighted by weight when mixed), and prints how evenly each spreads load relative to each node's fair share.
/// </summary>
internal static class BalanceReport
{
    private static readonly ushort[] MixedWeights = [50, 100, 200, 400];

    public static int Run(string[] args)
    {
        if (!TryParse(args, out Options o, out string? error))
        {
            Console.Error.WriteLine(error);
            Console.Error.WriteLine(
                "usage: balance --nodes N --keys K [--weights uniform|mixed] [--seed S] [--probes P] [--points V]");
            return 2;
        }

        PlacementMember[] members = Members(o);
        var parameters = new PlacementParameters(o.Probes, o.Points);
        var build = Stopwatch.StartNew();
        RegionPlacement placement = RegionPlacement.Build(members, parameters);
        build.Stop();
        Console.WriteLine($"nodes={o.Nodes} keys={o.Keys} weights={(o.Mixed ? "mixed 50/100/200/400" : "uniform")} "
            + $"seed={o.Seed} probes={o.Probes} pointsPerStandardWeight={o.Points}");
        Console.WriteLine($"build: {build.Elapsed.TotalMilliseconds:F0} ms, {placement.PointCount} points");

        var ours = new int[o.Nodes];
        var watch = Stopwatch.StartNew();
        long tenth = Math.Max(1, o.Keys / 10);
        for (long i = 0; i < o.Keys; i++)
        {
            ours[placement.Owner(StableHash.Mix(o.Seed, (ulong)i))]++;
            if ((i + 1) % tenth == 0 && i + 1 < o.Keys)
                Console.Error.WriteLine($"  ours: {(i + 1) * 100 / o.Keys}% ({watch.Elapsed.TotalSeconds:F0} s)");
        }
        watch.Stop();
        Console.WriteLine($"lookups: {o.Keys / watch.Elapsed.TotalSeconds / 1e6:F2} M/s single-threaded "
            + $"({watch.Elapsed.TotalNanoseconds / o.Keys:F0} ns each, includes counting)");

        int[] random = RandomAssignment(members, o);
        double[] fair = FairShares(members, o.Keys);
        Print("ours  ", ours, fair);
        Print("random", random, fair);
        return 0;
    }

    private static PlacementMember[] Members(Options o)
    {
        var members = new PlacementMember[o.Nodes];
        for (int i = 0; i < o.Nodes; i++)
        {
            ushort weight = o.Mixed ? MixedWeights[StableHash.Mix(o.Seed ^ 0x5EED, (ulong)i) % 4] : (ushort)100;
            members[i] = new PlacementMember(i, StableHash.Of($"node-{o.Seed}-{i}"), weight);
        }
        return members;
    }

    // Each key goes to a node drawn with probability ∝ weight, independently: the yardstick for "as good as random".
    private static int[] RandomAssignment(PlacementMember[] members, Options o)
    {
        var cumulative = new long[members.Length];
        long total = 0;
        for (int i = 0; i < members.Length; i++) cumulative[i] = total += members[i].Weight;
        var counts = new int[members.Length];
        ulong stream = StableHash.Mix(o.Seed, 0xA55A);
        for (long i = 0; i < o.Keys; i++)
        {
            long pick = (long)Math.BigMul(StableHash.Mix(stream, (ulong)i), (ulong)total, out _);
            int index = Array.BinarySearch(cumulative, pick + 1);
            counts[index < 0 ? ~index : index]++;
        }
        return counts;
    }

    private static double[] FairShares(PlacementMember[] members, long keys)
    {
        double total = 0;
        foreach (PlacementMember m in members) total += m.Weight;
        return [.. members.Select(m => keys * m.Weight / total)];
    }

    // Load relative to fair share (count / expected): with equal weights that is count / mean.
    private static void Print(string label, int[] counts, double[] fair)
    {
        int n = counts.Length;
        double max = 0, min = double.MaxValue, sum = 0, sumSquares = 0, absError = 0;
        for (int i = 0; i < n; i++)
        {
            double r = counts[i] / fair[i];
            max = Math.Max(max, r);
            min = Math.Min(min, r);
            sum += r;
            sumSquares += r * r;
            absError += Math.Abs(r - 1);
        }
        double mean = sum / n;
        double sd = Math.Sqrt(Math.Max(0, sumSquares / n - mean * mean));
        Console.WriteLine($"{label}: mean keys/node={counts.Average():F1} max/mean={max:F4} min/mean={min:F4} "
            + $"stddev/mean={sd:F4} mean|share/weightShare-1|={absError / n:P2}");
    }

    private readonly record struct Options(int Nodes, long Keys, bool Mixed, ulong Seed, int Probes, int Points);

    private static bool TryParse(string[] args, out Options options, out string? error)
    {
        PlacementParameters d = PlacementParameters.Default;
        options = new Options(0, 0, false, 1, d.Probes, d.PointsPerStandardWeight);
        error = null;
        for (int i = 1; i < args.Length; i += 2)
        {
            string name = args[i];
            string value = i + 1 < args.Length ? args[i + 1] : "";
            bool ok = name switch
            {
                "--nodes" => int.TryParse(value, out int nodes) && nodes > 0 && Set(ref options, options with { Nodes = nodes }),
                "--keys" => long.TryParse(value, out long keys) && keys > 0 && Set(ref options, options with { Keys = keys }),
                "--seed" => ulong.TryParse(value, out ulong seed) && Set(ref options, options with { Seed = seed }),
                "--probes" => int.TryParse(value, out int probes) && probes is > 0 and <= 256
                    && Set(ref options, options with { Probes = probes }),
                "--points" => int.TryParse(value, out int points) && points is > 0 and <= 4096
                    && Set(ref options, options with { Points = points }),
                "--weights" => value is "uniform" or "mixed" && Set(ref options, options with { Mixed = value == "mixed" }),
                _ => false,
            };
            if (!ok)
            {
                error = $"bad argument: {name} {value}";
                return false;
            }
        }
        if (options.Nodes == 0 || options.Keys == 0) error = "--nodes and --keys are required";
        return error is null;
    }

    private static bool Set(ref Options options, Options value)
    {
        options = value;
        return true;
    }
}
