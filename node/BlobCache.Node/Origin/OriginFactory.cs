namespace BlobCache.Node.Origin;

/// <summary>Turns the <c>--origin</c> setting into an origin. Throws <see cref="ArgumentException"/> naming the problem.</summary>
public static class OriginFactory
{
    public static IBlobOrigin Create(string origin) =>
        origin == "sample" ? new SampleOrigin() : AzureBlobOrigin.Create(origin);
}
