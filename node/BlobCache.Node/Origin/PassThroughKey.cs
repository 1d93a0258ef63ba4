using System.Globalization;
using BlobCache.Node.Endpoint;

namespace BlobCache.Node.Origin;

/// <summary>
/// A <see cref="PassThroughRead"/> as one canonical text: the key a cached answer is kept under, hashed to find its
/// owner in the region, and sent to that owner. Eight fields joined by '&amp;', each empty when absent or '=' and the
/// value percent-encoded, so every read has one text and every text one read (an empty include= is no include:
/// Blob answers both alike).
/// </summary>
public readonly record struct PassThroughKey(string Text)
{
    public static PassThroughKey Of(PassThroughRead read) => new(string.Join('&',
        ((int)read.Kind).ToString(CultureInfo.InvariantCulture), Field(read.Container), Field(read.Blob), Field(read.Prefix), Field(read.Delimiter), Field(read.Marker),
        Field(read.MaxResults?.ToString(CultureInfo.InvariantCulture)), Field(read.Include is null or [] ? null : string.Join(',', read.Include))));

    private static string Field(string? value) => value is null ? "" : "=" + Uri.EscapeDataString(value);

    /// <summary>The read a key names, or null with why not (a peer sent it: never throws).</summary>
    public static PassThroughRead? TryParse(string text, out string? error)
    {
        error = null;
        string[] f = text.Split('&');
        if (f.Length != 8) return Fail("not eight fields", out error);
        if (!int.TryParse(f[0], NumberStyles.None, CultureInfo.InvariantCulture, out int kind) || !Enum.IsDefined((PassThroughKind)kind)) return Fail("an unknown kind", out error);
        string?[] v = new string?[7];
        for (int i = 1; i < 8; i++)
        {
            if (f[i].Length == 0) continue;
            if (f[i][0] != '=') return Fail("a field without '='", out error);
            try
            {
                v[i - 1] = Uri.UnescapeDataString(f[i][1..]);
            }
            catch (UriFormatException)
            {
                return Fail("a field that does not decode", out error);
            }
        }
        if (v[0] is { } container && !BlobNames.IsValidContainer(container)) return Fail("a bad container name", out error);
        if (v[1] is { } blob && !BlobNames.IsValidBlob(blob)) return Fail("a bad blob name", out error);
        int? max = null;
        if (v[5] is { } m)
        {
            if (!int.TryParse(m, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n is < 1 or > 5000) return Fail("a bad maxresults", out error);
            max = n;
        }
        string[]? include = v[6]?.Split(',');
        if (include is not null && include.Any(i => i.Length == 0)) return Fail("an empty include", out error);
        var read = new PassThroughRead((PassThroughKind)kind, v[0], v[1], v[2], v[3], v[4], max, include);
        // Canonical: a text that re-encodes to other bytes is not one a node sends.
        return Of(read).Text == text ? read : Fail("a text that is not canonical", out error);
    }

    private static PassThroughRead? Fail(string why, out string? error)
    {
        error = why;
        return null;
    }
}
