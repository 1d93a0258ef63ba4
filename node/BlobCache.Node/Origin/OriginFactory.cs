namespace BlobCache.Node.Origin;

/// <summary>How the origin retries: attempts after the first, and how long one attempt may take.</summary>
public sealed record OriginRetry(int MaxRetries, TimeSpan NetworkTimeout)
{
    public static readonly OriginRetry Default = new(4, TimeSpan.FromSeconds(30));
}

/// <summary>Turns the <c>--origin</c> setting into an origin. Throws <see cref="ArgumentException"/> naming the problem.</summary>
public static class OriginFactory
{
    public static IBlobOrigin Create(string origin, OriginRetry? retry = null) =>
        origin == "sample" ? new SampleOrigin() : AzureBlobOrigin.Create(origin, retry);
}
