using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace BlobCache.Node.Endpoint;

/// <summary>
/// What a request names, decoded once: the account, the container and (for a blob request) the blob name, exactly
/// as it is handed to the origin. Access control and the endpoint both take it from <see cref="Of"/>, so the
/// container that is checked is the container that is read.
/// </summary>
/// <param name="Container">The container; empty for an account-level request (<c>/{account}/?comp=list</c>).</param>
/// <param name="Blob">The blob name (null for a container request); for <c>/warm</c>, the prefix to warm.</param>
public sealed record BlobResource(string Account, string Container, string? Blob)
{
    /// <summary>An account-level request: it names no container.</summary>
    public bool IsAccount => Container.Length == 0;

    private static readonly BlobResource Unparsable = new("", "", null);

    /// <summary>
    /// The resource of a request, parsed on first use and kept with the request: for <c>/warm</c> the one its
    /// <c>?path=</c> names, else the one its raw target names. Null when the request names none.
    /// </summary>
    public static BlobResource? Of(HttpContext context)
    {
        BlobResource? known = context.Features.Get<BlobResource>();
        if (known is null)
        {
            bool parsed = context.Request.Path == "/warm"
                ? TryParseName(context.Request.Query["path"].ToString(), out known)
                : TryParse(context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "", out known);
            known = parsed ? known : Unparsable;
            context.Features.Set(known);
        }
        return ReferenceEquals(known, Unparsable) ? null : known;
    }

    /// <summary>
    /// Splits a raw request target (<c>/{account}[/{container}[/{blob}]][?query]</c>) before decoding, so an encoded
    /// '/' or '%' in a blob name is decoded exactly once and never splits the path. Names are not checked here.
    /// </summary>
    public static bool TryParse(string rawTarget, out BlobResource? resource)
    {
        resource = null;
        int q = rawTarget.IndexOf('?', StringComparison.Ordinal);
        ReadOnlySpan<char> path = q >= 0 ? rawTarget.AsSpan(0, q) : rawTarget.AsSpan();
        if (path.IsEmpty || path[0] != '/') return false;
        path = path[1..];
        int s1 = path.IndexOf('/');
        if (s1 == 0 || path.IsEmpty) return false;
        if (s1 < 0 || s1 == path.Length - 1)
        {
            resource = new BlobResource(Uri.UnescapeDataString(path[..(s1 < 0 ? path.Length : s1)].ToString()), "", null);
            return true;
        }
        string account = Uri.UnescapeDataString(path[..s1].ToString());
        path = path[(s1 + 1)..];
        int s2 = path.IndexOf('/');
        string container = Uri.UnescapeDataString((s2 < 0 ? path : path[..s2]).ToString());
        if (container.Length == 0) return false;
        string? blob = s2 < 0 || s2 == path.Length - 1 ? null : Uri.UnescapeDataString(path[(s2 + 1)..].ToString());
        resource = new BlobResource(account, container, blob);
        return true;
    }

    /// <summary>An already decoded <c>{account}/{container}[/{rest}]</c>, as <c>/warm?path=</c> gives it.</summary>
    public static bool TryParseName(string name, out BlobResource? resource)
    {
        resource = null;
        string[] parts = name.Split('/', 3);
        if (parts.Length < 2 || parts[0].Length == 0 || parts[1].Length == 0) return false;
        resource = new BlobResource(parts[0], parts[1], parts.Length == 3 && parts[2].Length > 0 ? parts[2] : null);
        return true;
    }
}
