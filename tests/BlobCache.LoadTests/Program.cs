using BlobCache.LoadTests;

// End-to-end benchmarks: `bench` (full) or `bench --smoke` (seconds, what CI runs so the harness cannot rot).
string command = args.Length > 0 ? args[0] : "help";
switch (command)
{
    case "bench":
    {
        bool smoke = args.Contains("--smoke");
        int outIndex = Array.IndexOf(args, "--out");
        string outDir = outIndex >= 0 && outIndex + 1 < args.Length ? args[outIndex + 1] : "bench";
        int onlyIndex = Array.IndexOf(args, "--only");
        var only = onlyIndex >= 0 && onlyIndex + 1 < args.Length
            ? args[onlyIndex + 1].Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal)
            : [];
        return await Bench.RunAsync(smoke ? BenchSize.Tiny : BenchSize.Full, outDir, only);
    }
    case "load":
    {
        int outIndex = Array.IndexOf(args, "--out");
        string outDir = outIndex >= 0 && outIndex + 1 < args.Length ? args[outIndex + 1] : "bench";
        return await LoadScenarios.RunAsync(args.Contains("--smoke"), outDir);
    }
    default:
        Console.Error.WriteLine("usage: BlobCache.LoadTests bench [--smoke] [--out DIR] [--only local_hit,peer_fetch,epoch,stampede]   (writes DIR/results.json)\n" +
            "       BlobCache.LoadTests load [--smoke] [--out DIR]   (wrk cross-check, knee, soak, churn; writes DIR/load.json)\n" +
            "DIR defaults to bench");
        return command == "help" ? 0 : 2;
}
