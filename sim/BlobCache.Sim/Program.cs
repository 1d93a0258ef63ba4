using System.Globalization;
using BlobCache.Sim.Scenarios;
using static System.FormattableString;

namespace BlobCache.Sim;

/// <summary>
/// blobcache-sim: runs the real mesh code for a scenario on a simulated network in virtual time and writes a
/// report. With no flags it runs the crash scenario on 500 nodes.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        SimOptions options;
        Scenario scenario;
        try
        {
            options = SimOptions.Parse(args);
            if (options.Help)
            {
                Console.WriteLine(SimOptions.Usage);
                return 0;
            }
            if (options.List)
            {
                foreach (string name in Scenario.BuiltIn) Console.WriteLine($"{name,-18} {Scenario.Load(name).Description}");
                return 0;
            }
            scenario = options.Apply(Scenario.Load(options.Scenario));
            scenario.Validate();
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"blobcache-sim: {e.Message}");
            Console.Error.WriteLine("run with --help for the flags");
            return 2;
        }

        string outDir = options.Out ?? Path.Combine("out", $"sim-{scenario.Name}");
        Console.WriteLine($"blobcache-sim: scenario {scenario.Name}, {scenario.Nodes:N0} nodes in {scenario.Regions} region(s), seed {options.Seed}, {scenario.Duration:F0} virtual s, Lifeguard {(scenario.Lifeguard ? "on" : "off")}, suspicions {scenario.Suspicions}");
        if (scenario.Description.Length > 0) Console.WriteLine($"  {scenario.Description}");
        try
        {
            // Fail on an unusable output directory before the run, not after it.
            Directory.CreateDirectory(outDir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"blobcache-sim: cannot write the report to '{outDir}': {e.Message}");
            return 2;
        }
        if (options.CompareDirect) return CompareDirect(scenario, options.Seed, outDir);
        SimReport report = new ScenarioRunner(scenario, options.Seed, Console.Out).Run();
        try
        {
            report.WriteTo(outDir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"blobcache-sim: the run finished but the report could not be written to '{outDir}': {e.Message}");
            Console.WriteLine(Summary(report));
            return 2;
        }

        Console.WriteLine();
        Console.WriteLine(Summary(report));
        Console.WriteLine($"  report: {Path.Combine(outDir, "report.md")} (and report.json, *.svg)");
        return Invariants.Check(scenario, report) is { Count: > 0 } broken
            ? Fail(broken)
            : 0;
    }

    /// <summary>
    /// The scenario through the mesh, then with every node reading Blob directly, under the same origin model; the
    /// invariants are the mesh run's (the direct run is the baseline, throttled on purpose).
    /// </summary>
    private static int CompareDirect(Scenario scenario, ulong seed, string outDir)
    {
        Scenario viaMesh;
        try
        {
            viaMesh = scenario with { Workload = scenario.Workload is { } w ? w with { MetadataViaMesh = true, ChunksViaMesh = true } : null };
            _ = DirectComparison.DirectOf(viaMesh);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"blobcache-sim: {e.Message}");
            return 2;
        }
        Console.WriteLine("run 1 of 2: through the mesh");
        SimReport mesh = new ScenarioRunner(viaMesh, seed, Console.Out).Run();
        Console.WriteLine(Summary(mesh));
        Console.WriteLine("run 2 of 2: every node reads Blob directly (properties, listings, chunks)");
        SimReport direct = new ScenarioRunner(DirectComparison.DirectOf(viaMesh), seed, Console.Out).Run();
        Console.WriteLine(Summary(direct));
        var comparison = new DirectComparison(mesh, direct);
        try
        {
            comparison.WriteTo(outDir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"blobcache-sim: the runs finished but the reports could not be written to '{outDir}': {e.Message}");
            Console.WriteLine(comparison.Summary());
            return 2;
        }
        Console.WriteLine();
        Console.WriteLine(comparison.Summary());
        Console.WriteLine($"  reports: {Path.Combine(outDir, "mesh")}, {Path.Combine(outDir, "direct")}, {Path.Combine(outDir, "comparison.json")}");
        return Invariants.Check(viaMesh, mesh) is { Count: > 0 } broken ? Fail(broken) : 0;
    }

    private static int Fail(List<string> broken)
    {
        foreach (string b in broken) Console.WriteLine($"  INVARIANT BROKEN: {b}");
        return 1;
    }

    public static string Summary(SimReport r)
    {
        var s = new System.Text.StringBuilder();
        s.AppendLine(Invariant($"  views exact: {(r.ConvergenceSeconds < 0 ? "never" : Invariant($"at {r.ConvergenceSeconds:F1} s"))}, again {(!r.Disturbed ? "n/a (no disturbance)" : r.ReconvergenceSeconds < 0 ? "never" : Invariant($"{r.ReconvergenceSeconds:F1} s after the last disturbance"))}, at end {(r.ViewsExactAtEnd ? "yes" : "no")}"));
        s.AppendLine(Invariant($"  crashes known everywhere: {r.Crashes - r.CrashesUndetected}/{r.Crashes}, detection p50 {r.DetectionPercentile(0.5):F1} s, p99 {r.DetectionPercentile(0.99):F1} s, max {(r.Detection.Count == 0 ? 0 : r.Detection[^1]):F1} s (bound {r.SuspicionBoundSeconds:F1} s); per member p50 {r.MemberDetection.Quantile(0.5):F2} s, p99 {r.MemberDetection.Quantile(0.99):F2} s"));
        s.AppendLine(Invariant($"  false positives: {r.FalsePositives} ({r.FalsePositives - r.FalsePositivesStalling} healthy, {r.FalsePositivesStalling} stalling); deaths across partitions: {r.PartitionDeathEvents}"));
        s.AppendLine(Invariant($"  gossip per node: {r.MsgsPerNodePerSecMean:F1} msgs/s (max {r.MsgsPerNodePerSecMax:F1}), {r.BytesPerNodePerSecMean / 1024:F2} KiB/s (max {r.BytesPerNodePerSecMax / 1024:F2})"));
        s.AppendLine(Invariant($"  datagrams: largest {r.LargestDatagramBytes:N0} bytes, {r.OversizeRefused:N0} refused as oversize; state by stream: {r.StreamTransfers:N0} transfers, {r.StreamBytes / 1048576.0:F1} MiB, largest {r.LargestStreamBytes / 1024.0:F1} KiB"));
        s.AppendLine(Invariant($"  placement: max/mean load {r.PlacementMaxOverMeanLoad:F3} ({r.PlacementKeysPerNode} sampled keys per node), keys moved {r.PlacementMovedFractionOnChurn:P2} for {r.PlacementMembersChangedFraction:P2} of members changed"));
        if (r.Fleet is { } f)
        {
            s.AppendLine(Invariant($"  fleet: last start at {f.LastStartSeconds:F1} s; views exact after it p50 {f.ExactPercentile(0.5):F0} s, p99 {f.ExactPercentile(0.99):F0} s, max {f.AllExactAfterLastStart:F0} s ({f.NeverExact:N0} never)"));
            s.AppendLine(Invariant($"  fleet: state transfers served per node mean {f.TransfersServedMean:F1}, max {f.TransfersServedMax:N0} ({f.TransfersServedMaxOverMean:F1}×); most bytes served {f.BytesServedMax / 1048576.0:F1} MiB, received {f.BytesReceivedMax / 1048576.0:F1} MiB; largest transfer {f.LargestTransferBytes / 1024.0:F1} KiB"));
            s.AppendLine("  fleet: seeds (requests, transfers, MiB): " + string.Join("; ", f.Seeds.Select(x => Invariant($"{x.Node}: {x.Requests:N0}, {x.Transfers:N0}, {x.Bytes / 1048576.0:F1}"))));
        }
        if (r.Data is { } d)
        {
            string completion = d.CompletionSeconds < 0 ? "not finished" : Invariant($"{d.CompletionSeconds:F1} s");
            string ideal = double.IsNaN(d.IdealSeconds) ? "" : Invariant($" (ideal {d.IdealSeconds:F1} s)");
            s.AppendLine(Invariant($"  data ({d.Kind}): {d.ReadsDone:N0}/{d.ReadsTotal:N0} reads, Blob GETs {d.BlobGets:N0} ({d.BlobReadsPerChunkPerRegion:F3} per chunk per region), max sending on one node {d.MaxOwnerConcurrency}, {d.Handoffs:N0} handoffs, {d.OwnerTimeouts:N0} timeouts, completion {completion}{ideal}"));
            if (r.Origin is { } o) s.AppendLine("  " + SimReport.OriginSummary(o, d));
        }
        s.Append(Invariant($"  trace digest {r.TraceDigest}; wall {r.WallSeconds:F1} s; peak memory {r.PeakRssBytes / (1024.0 * 1024):F0} MiB"));
        return s.ToString();
    }
}

public sealed record SimOptions
{
    public string Scenario { get; init; } = "crash";
    public int? Nodes { get; init; }
    public int? Regions { get; init; }
    public ulong Seed { get; init; } = 1;
    public double? Duration { get; init; }
    public bool? Lifeguard { get; init; }
    public string? Suspicions { get; init; }
    public string? Bootstrap { get; init; }
    public string? Out { get; init; }
    /// <summary>True: blob properties through the mesh; false: every node asks Blob (null: the scenario's <c>metadata_via_mesh</c>).</summary>
    public bool? MetadataViaMesh { get; init; }
    /// <summary>Run the scenario through the mesh, then with every node reading Blob directly, and compare.</summary>
    public bool CompareDirect { get; init; }
    public bool Help { get; init; }
    public bool List { get; init; }

    public const string Usage = """
        usage: blobcache-sim [--scenario NAME|FILE] [--nodes N] [--regions R] [--seed S] [--duration SECONDS]
                             [--lifeguard on|off] [--suspicions auto|gossip|accuser] [--bootstrap join|converged|fleet]
                             [--metadata mesh|direct] [--compare-direct] [--out DIR] [--list]
          --scenario   a built-in scenario (see --list) or a scenario JSON file (default: crash)
          --nodes      virtual nodes (default: the scenario's; 500 for crash)
          --regions    regions the nodes are spread over (default: the scenario's)
          --seed       seed of the whole run; the same seed gives the same run (default 1)
          --duration   virtual seconds to run (default: the scenario's)
          --lifeguard  on (default) or off, to compare with plain SWIM
          --suspicions auto (default: gossip under 2,000 nodes, accuser from there on), gossip (every member
                       hears of a suspicion) or accuser (only the accusers and the suspect do; only deaths
                       and refutations are gossiped)
          --bootstrap  converged (default: start as one mesh), join (every node joins through node 0) or fleet
                       (nodes start over the scenario's start_seconds, joining through seeds in each region)
          --metadata   mesh: a node asks a blob's properties of the key's owner in its region, which asks
                       Blob once per TTL; direct: every node asks Blob (default: the scenario's
                       metadata_via_mesh, true unless it says false)
          --compare-direct
                       run the scenario twice under the same origin model: through the mesh, then with
                       every node reading Blob directly (properties, listings and chunks); writes both
                       reports (DIR/mesh, DIR/direct) and DIR/comparison.json
          --out        where report.json, report.md and the charts go (default out/sim-NAME)
          --list       list the built-in scenarios
        Exit code: 0 when the scenario's invariants hold, 1 when one broke, 2 on bad input.
        """;

    public static SimOptions Parse(string[] args)
    {
        var o = new SimOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string flag = args[i];
            if (flag is "-h" or "--help") return o with { Help = true };
            if (flag == "--list") return o with { List = true };
            if (flag == "--compare-direct")
            {
                o = o with { CompareDirect = true };
                continue;
            }
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{flag} needs a value");
            o = flag switch
            {
                "--scenario" => o with { Scenario = Value() },
                "--nodes" => o with { Nodes = ParseInt(flag, Value(), 2, 1_000_000) },
                "--regions" => o with { Regions = ParseInt(flag, Value(), 1, 16) },
                "--seed" => o with { Seed = ulong.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out ulong s) ? s : throw new ArgumentException($"{flag} must be a non-negative integer") },
                "--duration" => o with { Duration = double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && d > 0 && d <= 86_400 ? d : throw new ArgumentException($"{flag} must be a number of seconds from 0 to 86400") },
                "--lifeguard" => o with { Lifeguard = Value() switch { "on" => true, "off" => false, var v => throw new ArgumentException($"{flag} must be on or off, got '{v}'") } },
                "--suspicions" => o with { Suspicions = OneOf(flag, Value(), "auto", "gossip", "accuser") },
                "--out" => o with { Out = Value() },
                "--metadata" => o with { MetadataViaMesh = OneOf(flag, Value(), "mesh", "direct") == "mesh" },
                "--bootstrap" => o with { Bootstrap = OneOf(flag, Value(), "join", "converged", "fleet") },
                _ => throw new ArgumentException($"unknown flag '{flag}'"),
            };
        }
        return o;
    }

    /// <summary>The scenario with this run's overrides; step times beyond a shortened run are dropped.</summary>
    public Scenario Apply(Scenario s)
    {
        double duration = Duration ?? s.Duration;
        return s with
        {
            Nodes = Nodes ?? s.Nodes,
            Regions = Regions ?? s.Regions,
            Duration = duration,
            Lifeguard = Lifeguard ?? s.Lifeguard,
            Suspicions = Suspicions ?? s.Suspicions,
            Bootstrap = Bootstrap ?? s.Bootstrap,
            Steps = s.Steps.Where(st => st.At < duration).Select(st => st.Until > duration ? st with { Until = duration } : st).ToList(),
            Workload = MetadataViaMesh is bool viaMesh && s.Workload is { } w ? w with { MetadataViaMesh = viaMesh } : s.Workload,
        };
    }

    private static string OneOf(string flag, string value, params string[] allowed) =>
        allowed.Contains(value) ? value : throw new ArgumentException($"{flag} must be {string.Join(" or ", allowed)}, got '{value}'");

    private static int ParseInt(string flag, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= min && n <= max
            ? n
            : throw new ArgumentException($"{flag} must be an integer from {min} to {max}, got '{value}'");
}
