namespace BlobCache.Benchmarks;

public static class Program
{
    // `balance ...` is a long-running report, not a benchmark; everything else goes to BenchmarkDotNet.
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "balance") return BalanceReport.Run(args);
        BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
