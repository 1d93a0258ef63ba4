namespace BlobCache.Node.Origin;

/// <summary>A blob version's properties beyond its bytes: content headers, user metadata, tier and encryption.</summary>
public sealed record BlobDetails(
    string? ContentEncoding = null,
    string? ContentLanguage = null,
    string? CacheControl = null,
    string? ContentDisposition = null,
    IReadOnlyDictionary<string, string>? Metadata = null,
    DateTimeOffset? CreatedOn = null,
    string? AccessTier = null,
    bool AccessTierInferred = false,
    bool ServerEncrypted = true);
