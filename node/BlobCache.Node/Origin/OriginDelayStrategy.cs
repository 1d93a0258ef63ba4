using Azure;
using Azure.Core;
using BlobCache.Mesh;
using BlobCache.Mesh.Origin;

namespace BlobCache.Node.Origin;

/// <summary>
/// The Blob SDK's wait between retries, taken from <see cref="OriginBackoff"/> (which the simulator's nodes use too)
/// instead of the SDK's own formula. The SDK still waits at least as long as a Retry-After header asks.
/// </summary>
internal sealed class OriginDelayStrategy(OriginBackoff backoff)
    : DelayStrategy(TimeSpan.FromTicks(backoff.MaxDelayMicros * 10), jitterFactor: 0) // jitter is the backoff's own
{
    protected override TimeSpan GetNextDelayCore(Response? response, int retryNumber) =>
        Micros.ToTimeSpan(backoff.DelayMicros(Math.Max(1, retryNumber), Random.Shared.NextDouble()));
}
