namespace BlobCache.Benchmarks;

public static class Program
{
    // `balance ...` and `sealcost` are reports, not BenchmarkDotNet benchmarks; everything else goes to BenchmarkDotNet.
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "balance") return BalanceReport.Run(args);
        if (args.Length > 0 && args[0] == "sealcost") return GossipSealReport.Run(args);
        BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
