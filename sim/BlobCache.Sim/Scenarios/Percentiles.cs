namespace BlobCache.Sim.Scenarios;

/// <summary>p50, p99 and max of a sample (nearest rank), and how many values it had; -1 each when empty.</summary>
public readonly record struct Percentiles(double P50, double P99, double Max, int Count)
{
    public static Percentiles Of(IReadOnlyList<double> sorted) => sorted.Count == 0
        ? new(-1, -1, -1, 0)
        : new(SimReport.Percentile(sorted, 0.5, -1), SimReport.Percentile(sorted, 0.99, -1), sorted[^1], sorted.Count);
}
