using BlobCache.LoadTests;

// End-to-end benchmarks: `bench` (full) or `bench --smoke` (seconds, what CI runs so the harness cannot rot).
string command = args.Length > 0 ? args[0] : "help";
switch (command)
{
    case "bench":
    {
        bool smoke = args.Contains("--smoke");
        int rangesIndex = Array.IndexOf(args, "--ranges-kib");
        BenchSize size = smoke ? BenchSize.Tiny : BenchSize.Full;
        if (rangesIndex >= 0 && rangesIndex + 1 < args.Length)
        {
            int[] ranges = args[rangesIndex + 1].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(r => int.TryParse(r, out int k) && k is > 0 and <= 4096 ? k << 10 : -1).ToArray();
            if (ranges.Length == 0 || ranges.Contains(-1))
            {
                Console.Error.WriteLine($"--ranges-kib: '{args[rangesIndex + 1]}' is not a list of sizes from 1 to 4096 KiB, like 64,4096");
                return 2;
            }
            size = size with { Ranges = ranges };
        }
        if (args.Contains("--no-azurite")) size = size with { LocalHitAzurite = false };
        return await Bench.RunAsync(size, OutDir(), Only());
    }
    case "load":
    {
        return await LoadScenarios.RunAsync(args.Contains("--smoke"), OutDir(), Only());
    }
    default:
        Console.Error.WriteLine("usage: BlobCache.LoadTests bench [--smoke] [--out DIR] [--only membership,footprint,cold_read,small_objects,local_hit,peer_fetch,epoch,mount,stampede] [--ranges-kib 4096,64] [--no-azurite]   (writes DIR/results.json)\n" +
            "       BlobCache.LoadTests load [--smoke] [--out DIR] [--only wrk_check,knee,soak,churn]   (wrk cross-check, knee, soak, churn; writes DIR/load.json)\n" +
            "DIR defaults to bench");
        return command == "help" ? 0 : 2;
}

string? Value(string flag)
{
    int at = Array.IndexOf(args, flag);
    return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
}

string OutDir() => Value("--out") ?? "bench";

HashSet<string> Only() => Value("--only")?.Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal) ?? [];
