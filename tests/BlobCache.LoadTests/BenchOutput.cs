namespace BlobCache.LoadTests;

/// <summary>What every bench section prints and summarises alike: timestamped steps and medians of rounds.</summary>
internal static class BenchOutput
{
    public static void Step(string what) => Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {what}");

    /// <summary>The median of a section's rounds (the upper middle of an even count), the figure a noisy machine allows.</summary>
    public static double Median(IEnumerable<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted[sorted.Length / 2];
    }
}
