using System.Diagnostics;
using System.Globalization;
using BlobCache.Mesh;
using BlobCache.Mesh.Membership;
using BlobCache.Sim.Engine;

namespace BlobCache.Sim;

/// <summary>
/// blobcache-sim: runs the real mesh code on a simulated network. With no flags it bootstraps a small mesh,
/// crashes 1% of it, has one node leave, and reports what every node saw.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        SimOptions options;
        try
        {
            options = SimOptions.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"blobcache-sim: {e.Message}");
            Console.Error.WriteLine(SimOptions.Usage);
            return 2;
        }
        if (options.Help)
        {
            Console.WriteLine(SimOptions.Usage);
            return 0;
        }
        return new DefaultScenario(options).Run(Console.Out);
    }
}

public sealed record SimOptions
{
    public int Nodes { get; init; } = 200;
    public ulong Seed { get; init; } = 1;
    public int DurationSeconds { get; init; } = 60;
    public double Loss { get; init; }
    public bool Help { get; init; }

    public const string Usage = """
        usage: blobcache-sim [--nodes N] [--seed S] [--duration SECONDS] [--loss FRACTION]
          --nodes      virtual nodes (default 200)
          --seed       seed of the whole run; the same seed gives the same run (default 1)
          --duration   virtual seconds to run after the crash (default 60)
          --loss       probability that a packet is lost, 0..0.5 (default 0)
        """;

    public static SimOptions Parse(string[] args)
    {
        var o = new SimOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string flag = args[i];
            if (flag is "-h" or "--help") return o with { Help = true };
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{flag} needs a value");
            o = flag switch
            {
                "--nodes" => o with { Nodes = ParseInt(flag, Value(), 2, 200_000) },
                "--seed" => o with { Seed = ulong.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out ulong s) ? s : throw new ArgumentException($"{flag} must be a non-negative integer") },
                "--duration" => o with { DurationSeconds = ParseInt(flag, Value(), 1, 86_400) },
                "--loss" => o with { Loss = double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out double l) && l is >= 0 and <= 0.5 ? l : throw new ArgumentException($"{flag} must be a number from 0 to 0.5") },
                _ => throw new ArgumentException($"unknown flag '{flag}'"),
            };
        }
        return o;
    }

    private static int ParseInt(string flag, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= min && n <= max
            ? n
            : throw new ArgumentException($"{flag} must be an integer from {min} to {max}, got '{value}'");
}

/// <summary>Bootstrap, converge, crash 1%, one graceful leave; print what happened.</summary>
public sealed class DefaultScenario(SimOptions options)
{
    public int Run(TextWriter output)
    {
        var wall = Stopwatch.StartNew();
        var cluster = new SimCluster(options.Seed) { KeepEventLog = false };
        var detected = new Dictionary<int, long>();
        var crashedMembers = new HashSet<int>();
        int falseDeaths = 0;
        cluster.OnEvent = (node, e) =>
        {
            if (e.Kind == MemberEventKind.Dead && !crashedMembers.Contains(e.Member)) falseDeaths++;
        };

        output.WriteLine($"blobcache-sim: {options.Nodes} nodes, seed {options.Seed}, 3 zones, loss {options.Loss:P1}");
        cluster.AddNode();
        for (int i = 1; i < options.Nodes; i++)
        {
            cluster.AddNode(0, i % 3, [0]);
            cluster.RunFor(TimeSpan.FromMilliseconds(5));
        }
        cluster.Network.Loss = options.Loss;
        bool converged = cluster.RunUntil(cluster.IsConverged, TimeSpan.FromMinutes(10), TimeSpan.FromMilliseconds(250));
        double convergedAt = Micros.ToSeconds(cluster.Now);
        output.WriteLine($"  bootstrap: {(converged ? "every view exact" : "NOT converged")} at t={convergedAt:F1}s (virtual)");

        int crashes = Math.Max(1, options.Nodes / 100);
        long crashAt = cluster.Now;
        var random = new DeterministicRandom(DeterministicRandom.Derive(options.Seed, 7));
        var victims = new List<int>();
        while (victims.Count < crashes)
        {
            int v = 1 + random.Next(options.Nodes - 1);
            if (!victims.Contains(v)) victims.Add(v);
        }
        foreach (int v in victims)
        {
            crashedMembers.Add(cluster.Nodes[v].Swim.Self);
            cluster.Crash(v);
        }
        int leaver = Enumerable.Range(1, options.Nodes - 1).First(i => !victims.Contains(i));
        cluster.Leave(leaver);
        output.WriteLine($"  t={convergedAt:F1}s: crashed {crashes} node(s), node {leaver} leaves gracefully");

        long end = crashAt + options.DurationSeconds * Micros.PerSecond;
        while (cluster.Now < end)
        {
            cluster.RunUntil(Math.Min(end, cluster.Now + Micros.PerSecond));
            foreach (int v in victims)
                if (!detected.ContainsKey(v) && cluster.EveryoneSeesDown(v)) detected[v] = cluster.Now - crashAt;
            if (cluster.Now % (10 * Micros.PerSecond) == 0)
                output.WriteLine($"  t={Micros.ToSeconds(cluster.Now):F0}s: crashes known everywhere {detected.Count}/{crashes}, wall {wall.Elapsed.TotalSeconds:F1}s");
        }

        var running = cluster.Running.ToList();
        double seconds = Micros.ToSeconds(cluster.Now);
        double msgs = running.Average(n => n.MessagesSent) / seconds;
        double bytes = running.Average(n => n.BytesSent) / seconds;
        var times = detected.Values.Select(Micros.ToSeconds).Order().ToList();
        output.WriteLine();
        output.WriteLine($"  crashes detected by every live node: {detected.Count}/{crashes}" +
            (times.Count > 0 ? $" (after {times[times.Count / 2]:F1}s median, {times[^1]:F1}s max)" : ""));
        output.WriteLine($"  graceful leave seen as left by every node: {cluster.Running.All(n => n.Swim.StateOf(cluster.Nodes[leaver].Swim.Self) == BlobCache.Protocol.Gossip.MemberState.Left)}");
        output.WriteLine($"  false deaths (live nodes declared dead): {falseDeaths}");
        output.WriteLine($"  gossip per node: {msgs:F1} msgs/s, {bytes / 1024:F2} KiB/s sent");
        output.WriteLine($"  views exact at the end: {cluster.IsConverged()}");
        output.WriteLine($"  trace digest {cluster.Digest}, {cluster.MessagesDelivered} packets, wall {wall.Elapsed.TotalSeconds:F1}s");
        bool ok = converged && detected.Count == crashes && falseDeaths == 0;
        return ok ? 0 : 1;
    }
}
