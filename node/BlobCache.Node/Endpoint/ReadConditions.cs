using BlobCache.Node.Origin;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace BlobCache.Node.Endpoint;

/// <summary>What a read's conditional headers decide about a blob version.</summary>
public enum ReadVerdict
{
    /// <summary>Serve the read.</summary>
    Pass,
    /// <summary>412 ConditionNotMet (If-Match or If-Unmodified-Since).</summary>
    Failed,
    /// <summary>304 with ConditionNotMet (If-None-Match or If-Modified-Since).</summary>
    NotModified,
    /// <summary>400 UnsatisfiableCondition: If-None-Match: * can never hold for a read.</summary>
    Unsatisfiable,
}

/// <summary>
/// The conditional headers of Get Blob and Get Blob Properties, decided as Blob does for reads: If-Match and
/// If-Unmodified-Since fail with 412 before If-None-Match and If-Modified-Since answer 304, and a 304 needs every
/// one of the latter two that was sent to say "not modified".
/// </summary>
public readonly record struct ReadConditions(string? IfMatch, string? IfNoneMatch, DateTimeOffset? IfModifiedSince, DateTimeOffset? IfUnmodifiedSince)
{
    public static ReadConditions From(IHeaderDictionary headers) => new(
        BlobEndpoint.Optional(headers.IfMatch.ToString()),
        BlobEndpoint.Optional(headers.IfNoneMatch.ToString()),
        Date(headers.IfModifiedSince.ToString()),
        Date(headers.IfUnmodifiedSince.ToString()));

    /// <summary>The verdict for <paramref name="info"/>, or for a blob that does not exist when it is null.</summary>
    public ReadVerdict Check(BlobInfo? info)
    {
        if (IfNoneMatch is not null && IfNoneMatch.TrimStart().StartsWith('*')) return ReadVerdict.Unsatisfiable;
        if (info is null) return IfMatch is null ? ReadVerdict.Pass : ReadVerdict.Failed;
        if (IfMatch is not null && !IfMatch.TrimStart().StartsWith('*') && !ETagListContains(IfMatch, info.ETag)) return ReadVerdict.Failed;
        if (IfUnmodifiedSince is { } unmodified && info.LastModified > unmodified) return ReadVerdict.Failed;
        bool? noneMatchPass = IfNoneMatch is null ? null : !ETagListContains(IfNoneMatch, info.ETag);
        bool? modifiedPass = IfModifiedSince is { } since ? since < info.LastModified : null;
        if (noneMatchPass == false && modifiedPass != true) return ReadVerdict.NotModified;
        if (modifiedPass == false && noneMatchPass != true) return ReadVerdict.NotModified;
        return ReadVerdict.Pass;
    }

    private static DateTimeOffset? Date(string value) =>
        value.Length > 0 && HeaderUtilities.TryParseDate(value, out DateTimeOffset at) ? at : null;

    private static bool ETagListContains(string header, string etag)
    {
        foreach (string part in header.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            string p = part.StartsWith("W/", StringComparison.Ordinal) ? part[2..] : part;
            if (p == etag || p.Trim('"') == etag.Trim('"')) return true;
        }
        return false;
    }
}
