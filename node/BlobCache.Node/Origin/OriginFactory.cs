using BlobCache.Mesh.Origin;

namespace BlobCache.Node.Origin;

/// <summary>How the node's Blob client retries: the shared backoff (the simulator's nodes wait the same) and one timeout per attempt.</summary>
public sealed record OriginRetry(OriginBackoff Backoff, TimeSpan NetworkTimeout)
{
    public static readonly OriginRetry Default = new(OriginBackoff.Default, TimeSpan.FromSeconds(30));

    public OriginRetry(int maxRetries, TimeSpan networkTimeout) : this(OriginBackoff.Default with { MaxRetries = maxRetries }, networkTimeout)
    {
    }

    public int MaxRetries => Backoff.MaxRetries;
}

/// <summary>Turns the <c>--origin</c> setting into an origin. Throws <see cref="ArgumentException"/> naming the problem.</summary>
public static class OriginFactory
{
    public static IBlobOrigin Create(string origin, OriginRetry? retry = null) =>
        origin == "sample" ? new SampleOrigin() : AzureBlobOrigin.Create(origin, retry);
}
