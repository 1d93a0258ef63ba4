namespace BlobCache.Sim.Scenarios;

/// <summary>
/// Delays in 10 ms bins, for figures with one sample per (event, node): at 100,000 nodes a list of samples would
/// cost more memory than the views, and a quantile to 10 ms is as precise as a probe period allows anyway.
/// </summary>
public sealed class DelayHistogram
{
    private const long BinMicros = 10_000;
    private readonly long[] _bins;
    private long _over;

    /// <param name="maxSeconds">Delays past this count as past it (their quantile is reported as this).</param>
    public DelayHistogram(double maxSeconds = 600) => _bins = new long[(int)Math.Ceiling(maxSeconds * 1_000_000 / BinMicros)];

    public long Count { get; private set; }

    public void Add(long delayMicros)
    {
        Count++;
        long bin = Math.Max(0, delayMicros) / BinMicros;
        if (bin < _bins.Length) _bins[bin]++;
        else _over++;
    }

    /// <summary>The <paramref name="p"/> quantile (nearest rank) in seconds, each delay taken at its bin's upper edge; 0 when empty.</summary>
    public double Quantile(double p)
    {
        if (Count == 0) return 0;
        long rank = Math.Clamp((long)Math.Ceiling(p * Count), 1, Count);
        long seen = 0;
        for (int i = 0; i < _bins.Length; i++)
        {
            seen += _bins[i];
            if (seen >= rank) return (i + 1) * BinMicros / 1e6;
        }
        return _bins.Length * BinMicros / 1e6;
    }
}
