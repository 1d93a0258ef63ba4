namespace BlobCache.Mesh.Origin;

/// <summary>
/// How a node waits before asking Blob again after a refusal (503 ServerBusy, 500, a timeout): exponential from
/// <see cref="BaseDelayMicros"/>, capped at <see cref="MaxDelayMicros"/>, with ±20% jitter so a fleet refused in
/// the same second does not come back in the same second; at most <see cref="MaxRetries"/> retries. The node's
/// Blob client takes its delays from this (through the SDK's delay strategy) and the simulator's nodes from the
/// same method, so a throttled origin costs a simulated node exactly what it costs a real one.
/// </summary>
public sealed record OriginBackoff
{
    public static readonly OriginBackoff Default = new();

    public int MaxRetries { get; init; } = 4;

    public long BaseDelayMicros { get; init; } = 100 * Micros.PerMillisecond;

    public long MaxDelayMicros { get; init; } = 2 * Micros.PerSecond;

    /// <summary>
    /// The wait before retry number <paramref name="retry"/> (1 for the first), given <paramref name="jitter"/>
    /// uniform in [0, 1): the caller's random, so the simulator stays deterministic.
    /// </summary>
    public long DelayMicros(int retry, double jitter)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(retry, 1);
        int doublings = Math.Min(retry - 1, 20);
        long delay = Math.Min(MaxDelayMicros, BaseDelayMicros << doublings);
        return (long)(delay * (0.8 + 0.4 * Math.Clamp(jitter, 0, 1)));
    }

    public void Validate()
    {
        if (MaxRetries is < 0 or > 20) throw new ArgumentOutOfRangeException(nameof(MaxRetries), MaxRetries, "0 to 20");
        if (BaseDelayMicros <= 0) throw new ArgumentOutOfRangeException(nameof(BaseDelayMicros), BaseDelayMicros, "positive");
        if (MaxDelayMicros < BaseDelayMicros) throw new ArgumentOutOfRangeException(nameof(MaxDelayMicros), MaxDelayMicros, "at least the base delay");
    }
}
