namespace BlobCache.Node.Origin;

/// <summary>The read-only Blob operations an origin answers as they are, for the endpoint to pass on.</summary>
public enum PassThroughKind { ListContainers, AccountInformation, ServiceProperties, ListBlobs, ContainerAcl, BlobTags, ContainerProperties }

/// <summary>
/// One read-only request to pass through: <paramref name="Include"/> is Blob's <c>include=</c> list as asked,
/// <paramref name="Delimiter"/> only for List Blobs.
/// </summary>
public sealed record PassThroughRead(PassThroughKind Kind, string? Container = null, string? Blob = null, string? Prefix = null,
    string? Delimiter = null, string? Marker = null, int? MaxResults = null, IReadOnlyList<string>? Include = null);

/// <summary>Blob's answer to a <see cref="PassThroughRead"/>: the headers that describe the resource, and the body as Blob sent it.</summary>
public sealed record PassThroughAnswer(IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body);

/// <summary>
/// An origin that can answer the account-, container- and blob-level reads the node does not cache (List Containers,
/// Get Account Information, Get Service Properties, List Blobs, Get Container ACL, Get Blob Tags, Get Container
/// Properties) with Blob's own
/// answer, so a client reads them through the node exactly as it would from Blob.
/// </summary>
public interface IOriginPassThrough
{
    /// <summary>Blob's answer; an <see cref="OriginException"/> with Blob's status and code when Blob refuses.</summary>
    Task<PassThroughAnswer> PassThroughAsync(PassThroughRead read, CancellationToken cancellationToken);
}
