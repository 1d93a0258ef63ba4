namespace BlobCache.Node.Origin;

/// <summary>
/// A container's own properties: <paramref name="PublicAccess"/> is Blob's x-ms-blob-public-access value
/// ("blob" or "container"), null when the container is private.
/// </summary>
public sealed record ContainerInfo(string ETag, DateTimeOffset LastModified, IReadOnlyDictionary<string, string>? Metadata = null, string? PublicAccess = null);

/// <summary>One listed blob, or (with a delimiter) one virtual directory when <see cref="IsPrefix"/>.</summary>
public sealed record ListedBlob(string Name, bool IsPrefix, long Length, string? ETag, DateTimeOffset? LastModified, string? ContentType, byte[]? ContentMd5 = null, BlobDetails? Details = null);

/// <summary>One page of List Blobs; <see cref="NextMarker"/> is null on the last page.</summary>
public sealed record ListPage(IReadOnlyList<ListedBlob> Items, string? NextMarker);

/// <summary>The blob changed between learning its ETag and reading its bytes: the reader must start over.</summary>
public sealed class BlobChangedException(string container, string blob, string etag)
    : Exception($"{container}/{blob} is no longer at ETag {etag}");

/// <summary>The origin refused or failed a request; status and code are Blob's own when it gave them.</summary>
public sealed class OriginException(int status, string code, string message, Exception? inner = null) : Exception(message, inner)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
}

/// <summary>The Blob account the cache reads through to (Azure, Azurite, or the built-in sample origin).</summary>
public interface IBlobOrigin
{
    /// <summary>The account name readers use in paths (<c>/{account}/{container}/{blob}</c>).</summary>
    string AccountName { get; }

    /// <summary>A short description for logs, without secrets.</summary>
    string Describe { get; }

    /// <summary>
    /// Null when the blob does not exist; an <see cref="OriginException"/> 404 <c>ContainerNotFound</c> when its
    /// container does not (Blob tells the two apart, and so must the node).
    /// </summary>
    Task<BlobInfo?> GetBlobAsync(string container, string blob, CancellationToken cancellationToken);

    /// <summary>
    /// Fills <paramref name="destination"/> with bytes from <paramref name="offset"/> of the blob version
    /// <paramref name="etag"/>, which the node believes is <paramref name="blobLength"/> bytes long. Throws
    /// <see cref="BlobChangedException"/> when that version is gone or Blob says it has another length: the length
    /// may have come from a peer, and a wrong one must fail the read, never cut or pad the bytes served.
    /// </summary>
    Task ReadAsync(string container, string blob, string etag, long blobLength, long offset, Memory<byte> destination, CancellationToken cancellationToken);

    /// <summary>Null when the container does not exist.</summary>
    Task<ContainerInfo?> GetContainerAsync(string container, CancellationToken cancellationToken);

    /// <summary>One page of List Blobs, passed through to the origin. Null when the container does not exist.</summary>
    Task<ListPage?> ListAsync(string container, string? prefix, string? delimiter, string? marker, int? maxResults, CancellationToken cancellationToken);

    /// <summary>True when the origin answers (for /readyz).</summary>
    Task<bool> PingAsync(CancellationToken cancellationToken);
}
