namespace BlobCache.Node.Endpoint;

public enum RangeKind : byte
{
    /// <summary>No range (or an ignorable standard Range header): the whole blob, 200.</summary>
    Whole,
    /// <summary>A satisfiable range: 206 with Content-Range.</summary>
    Partial,
    /// <summary>The range starts at or past the end: 416 InvalidRange.</summary>
    Unsatisfiable,
    /// <summary>A malformed x-ms-range: 400 InvalidHeaderValue.</summary>
    Invalid,
    /// <summary>Several ranges in one header (<c>bytes=a-b,c-d</c>), in either header: 400, one range per request.</summary>
    Multiple,
}

/// <summary>The answer to "which bytes of a blob of length L does this request want".</summary>
public readonly record struct ByteRange(RangeKind Kind, long Start, long Length)
{
    public long End => Start + Length - 1;

    /// <summary>The largest range whose MD5 Blob computes on request (x-ms-range-get-content-md5).</summary>
    public const long MaxMd5Length = 4L << 20;

    /// <summary>Whether Blob gives this range's MD5 when asked: only for an explicit range of at most 4 MiB, else 400.</summary>
    public bool CanCarryMd5 => Kind == RangeKind.Partial && Length <= MaxMd5Length;

    /// <summary>
    /// Resolves the request's <c>x-ms-range</c> (which wins, as in Blob) or <c>Range</c> against a blob of
    /// <paramref name="blobLength"/> bytes. Forms: <c>bytes=a-b</c>, <c>bytes=a-</c>, <c>bytes=-n</c>. A malformed
    /// standard <c>Range</c> is ignored (HTTP's rule); a malformed <c>x-ms-range</c> is an error (Blob's rule).
    /// </summary>
    public static ByteRange Resolve(ReadOnlySpan<char> msRange, ReadOnlySpan<char> range, long blobLength)
    {
        if (!msRange.IsEmpty)
        {
            ByteRange r = Parse(msRange, blobLength);
            return r;
        }
        if (!range.IsEmpty)
        {
            ByteRange r = Parse(range, blobLength);
            // Malformed: ignored. Multiple ranges pass through and are refused rather than answered with the whole
            // blob: the reader wanted a few pieces, and silently sending gigabytes instead is the worse surprise.
            return r.Kind == RangeKind.Invalid ? new ByteRange(RangeKind.Whole, 0, blobLength) : r;
        }
        return new ByteRange(RangeKind.Whole, 0, blobLength);
    }

    private static ByteRange Parse(ReadOnlySpan<char> header, long blobLength)
    {
        ReadOnlySpan<char> s = header.Trim();
        if (!s.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase)) return Invalid;
        s = s[6..].Trim();
        if (s.Contains(',')) return new ByteRange(RangeKind.Multiple, 0, 0); // one range per request, as Blob
        int dash = s.IndexOf('-');
        if (dash < 0) return Invalid;
        ReadOnlySpan<char> first = s[..dash].Trim(), last = s[(dash + 1)..].Trim();
        if (first.IsEmpty)
        {
            // Suffix: the last n bytes.
            if (!TryDigits(last, out long n)) return Invalid;
            if (n == 0 || blobLength == 0) return new ByteRange(RangeKind.Unsatisfiable, 0, 0);
            long take = Math.Min(n, blobLength);
            return new ByteRange(RangeKind.Partial, blobLength - take, take);
        }
        if (!TryDigits(first, out long start)) return Invalid;
        long end;
        if (last.IsEmpty) end = long.MaxValue;
        else if (!TryDigits(last, out end) || end < start) return Invalid;
        if (start >= blobLength) return new ByteRange(RangeKind.Unsatisfiable, 0, 0);
        end = Math.Min(end, blobLength - 1);
        return new ByteRange(RangeKind.Partial, start, end - start + 1);
    }

    private static ByteRange Invalid => new(RangeKind.Invalid, 0, 0);

    private static bool TryDigits(ReadOnlySpan<char> s, out long value)
    {
        value = 0;
        if (s.IsEmpty || s.Length > 18) return false;
        foreach (char c in s)
        {
            if (c is < '0' or > '9') return false;
            value = value * 10 + (c - '0');
        }
        return true;
    }
}
