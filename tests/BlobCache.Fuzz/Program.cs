using System.Globalization;
using BlobCache.Fuzz.Engine;
using BlobCache.Fuzz.Targets;

namespace BlobCache.Fuzz;

/// <summary>
/// Long fuzz runs: <c>dotnet run -c Release --project tests/BlobCache.Fuzz -- --target all --inputs 1000000 --seed 7</c>.
/// <c>--replay HEX</c> runs one input of one target; <c>--minimize</c> shrinks each finding's input.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        string targets = "all";
        long inputs = 1_000_000;
        int seed = Environment.TickCount & int.MaxValue;
        string? replay = null;
        long? replayIndex = null;
        bool minimize = false;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--target": targets = Next(); break;
                case "--inputs": inputs = long.Parse(Next(), NumberStyles.AllowThousands, CultureInfo.InvariantCulture); break;
                case "--seed": seed = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--replay": replay = Next(); break;
                case "--replay-input": replayIndex = long.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--minimize": minimize = true; break;
                case "--help":
                    Console.WriteLine($"--target all|NAME[,NAME] ({string.Join(", ", AllTargets.Names)})\n--inputs N (per target)\n--seed N\n--replay HEX, or --replay-input I with --seed (one --target): run one input\n--minimize");
                    return 0;
                default:
                    Console.Error.WriteLine($"unknown argument {args[i]} (see --help)");
                    return 2;
            }
        }
        IReadOnlyList<FuzzTarget> chosen = targets == "all" ? AllTargets.Create() : [.. targets.Split(',').Select(AllTargets.Create)];
        if (replay is not null) return Replay(chosen.Single(), Convert.FromHexString(replay));
        if (replayIndex is { } index) return Replay(chosen.Single(), Fuzzer.InputAt(chosen.Single(), seed, index));

        Console.WriteLine($"fuzzing {string.Join(", ", chosen.Select(t => t.Name))}: {inputs:N0} inputs each, seed {seed}");
        var reports = new List<FuzzReport>();
        foreach (FuzzTarget target in chosen)
        {
            FuzzReport report = Fuzzer.Run(target, new FuzzSettings
            {
                Inputs = inputs,
                Seed = seed,
                MaxFindings = 20,
                Progress = r => Console.WriteLine($"  {r.Target}: {r.Inputs:N0} inputs, {r.Rate:N0}/s, {r.Findings.Count} findings"),
            });
            reports.Add(report);
            Console.WriteLine(report);
            foreach (Finding f in report.Findings)
            {
                Console.WriteLine("  " + f);
                if (minimize && f.Kind == "crash") Console.WriteLine($"  minimized: {Convert.ToHexString(Fuzzer.Minimize(AllTargets.Create(target.Name), f.Bytes))}");
            }
        }
        Console.WriteLine();
        Console.WriteLine($"summary (seed {seed}): {reports.Sum(r => r.Inputs):N0} inputs in {TimeSpan.FromSeconds(reports.Sum(r => r.Elapsed.TotalSeconds)):hh\\:mm\\:ss}, " +
            $"crashes {reports.Sum(r => r.Count("crash"))}, hangs {reports.Sum(r => r.Count("hang"))}, broken invariants {reports.Sum(r => r.Count("property"))}, " +
            $"over the allocation bound {reports.Sum(r => r.Count("allocation"))}");
        foreach (FuzzReport r in reports) Console.WriteLine("  " + r);
        return reports.Any(r => r.Findings.Count > 0) ? 1 : 0;
    }

    private static int Replay(FuzzTarget target, byte[] input)
    {
        (string? failure, long allocated, bool accepted) = Fuzzer.Replay(target, input);
        Console.WriteLine($"{target.Name}: {input.Length} bytes, {(accepted ? "accepted" : "refused")}, {allocated:N0} bytes allocated (bound {target.AllocationBound(input.Length):N0}), {failure ?? "no failure"}");
        return failure is null ? 0 : 1;
    }
}
