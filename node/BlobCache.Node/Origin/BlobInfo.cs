using System.Globalization;

namespace BlobCache.Node.Origin;

/// <summary>
/// One blob version: what a reader needs to read its bytes, and the properties Get Blob and Get Blob Properties
/// return. Content headers and user metadata belong to the version (changing them changes the ETag), so they are
/// cached with it and dropped with it.
/// </summary>
public sealed record BlobInfo(long Length, string ETag, DateTimeOffset LastModified, string ContentType, byte[]? ContentMd5, BlobDetails? Details = null)
{
    /// <summary>Last-Modified as an HTTP date, formatted once: readers of one blob ask for it on every range.</summary>
    public string LastModifiedText { get; } = HttpDate(LastModified);

    /// <summary>Content-MD5 in base64, or null when the blob has none.</summary>
    public string? ContentMd5Text { get; } = ContentMd5 is { Length: > 0 } md5 ? Convert.ToBase64String(md5) : null;

    /// <summary>
    /// The headers every answer about this version carries (content headers, user metadata, creation time), as
    /// name/value pairs built once, so serving a range writes them without formatting anything.
    /// </summary>
    public KeyValuePair<string, string>[] PropertyHeaders { get; } = Headers(LastModified, Details);

    /// <summary>The access tier headers Get Blob Properties (not Get Blob) carries; empty when the origin gave none.</summary>
    public KeyValuePair<string, string>[] TierHeaders { get; } = Tier(Details);

    internal static string HttpDate(DateTimeOffset at) => at.UtcDateTime.ToString("R", CultureInfo.InvariantCulture);

    private static KeyValuePair<string, string>[] Headers(DateTimeOffset lastModified, BlobDetails? d)
    {
        var h = new List<KeyValuePair<string, string>>(8 + (d?.Metadata?.Count ?? 0));
        void Add(string name, string? value)
        {
            if (!string.IsNullOrEmpty(value)) h.Add(KeyValuePair.Create(name, value));
        }
        Add("x-ms-creation-time", HttpDate(d?.CreatedOn ?? lastModified));
        Add("Content-Encoding", d?.ContentEncoding);
        Add("Content-Language", d?.ContentLanguage);
        Add("Cache-Control", d?.CacheControl);
        Add("Content-Disposition", d?.ContentDisposition);
        Add("x-ms-server-encrypted", d is null || d.ServerEncrypted ? "true" : "false");
        if (d?.Metadata is { } metadata)
        {
            foreach ((string name, string value) in metadata) h.Add(KeyValuePair.Create("x-ms-meta-" + name, value));
        }
        return [.. h];
    }

    private static KeyValuePair<string, string>[] Tier(BlobDetails? d) => d?.AccessTier is { Length: > 0 } tier
        ? d.AccessTierInferred
            ? [KeyValuePair.Create("x-ms-access-tier", tier), KeyValuePair.Create("x-ms-access-tier-inferred", "true")]
            : [KeyValuePair.Create("x-ms-access-tier", tier)]
        : [];
}
