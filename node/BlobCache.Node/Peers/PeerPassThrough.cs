using BlobCache.Node.Origin;

namespace BlobCache.Node.Peers;

/// <summary>
/// Blob's answer to a passed-through read (a listing page, container properties), as a cache keeps it: the answer,
/// or Blob's "not found" error (kept too, like a missing blob; any other error is not an answer).
/// </summary>
public sealed record PassThroughResult(PassThroughAnswer? Answer, int Status = 200, string Code = "", string Message = "")
{
    public static PassThroughResult NotFound(OriginException e) => new(null, e.Status, e.Code, e.Message);
}

/// <summary>
/// A peer's <see cref="PassThroughResult"/> on the wire, and how long ago Blob gave it.
/// <code>
/// u8 kind (1 answer, 2 not found) | i64 age ms | answer: u16 count × (str name | str value) | i32 body length | body
///                                               not found: i32 status | str code | str message
/// str: u16 length (0xFFFF: null) | UTF-8; integers little-endian
/// </code>
/// </summary>
public static class PeerPassThrough
{
    /// <summary>Largest answer a decoder takes: a List Blobs page of 5,000 entries with their metadata fits.</summary>
    public const int MaxEncodedBytes = 16 * 1024 * 1024;

    public static byte[]? Encode(PassThroughResult result, TimeSpan age)
    {
        IReadOnlyList<KeyValuePair<string, string>> headers = result.Answer?.Headers ?? [];
        byte[] body = result.Answer?.Body ?? [];
        if (body.Length > MaxEncodedBytes || headers.Count > ushort.MaxValue) return null;
        var w = new AnswerWire.Writer(64 + body.Length);
        w.Byte(result.Answer is null ? (byte)2 : (byte)1);
        w.Long((long)age.TotalMilliseconds);
        if (result.Answer is null)
        {
            w.Int(result.Status);
            w.Text(result.Code);
            w.Text(result.Message);
            return w.ToArray(MaxEncodedBytes);
        }
        w.UShort((ushort)headers.Count);
        foreach ((string name, string value) in headers)
        {
            w.Text(name);
            w.Text(value);
        }
        w.Int(body.Length);
        w.Bytes(body);
        return w.ToArray(MaxEncodedBytes);
    }

    /// <summary>Null when <paramref name="from"/> is exactly one well-formed answer, else what is wrong with it. Never throws.</summary>
    public static string? TryDecode(ReadOnlySpan<byte> from, out PassThroughResult? result, out TimeSpan age)
    {
        result = null;
        age = default;
        if (from.Length > MaxEncodedBytes) return $"an answer of {from.Length} bytes";
        var r = new AnswerWire.Reader(from);
        if (!r.Byte(out byte kind) || !r.Long(out long ageMs)) return "a truncated header";
        if (kind is < 1 or > 2) return $"kind {kind}";
        if (ageMs is < 0 or > PeerMetadata.MaxAgeMs) return $"an age of {ageMs} ms";
        if (kind == 2)
        {
            if (!r.Int(out int status)) return "no status";
            if (status is < 400 or > 599) return $"an error status {status}";
            if (!r.Text(out string? code) || !r.Text(out string? message) || code is null || message is null) return "a bad error text";
            if (!r.AtEnd) return "trailing bytes";
            result = new PassThroughResult(null, status, code, message);
            age = TimeSpan.FromMilliseconds(ageMs);
            return null;
        }
        if (!r.UShort(out ushort count)) return "no header count";
        var headers = new List<KeyValuePair<string, string>>(Math.Min((int)count, 64));
        for (int i = 0; i < count; i++)
        {
            if (!r.Text(out string? name) || !r.Text(out string? value) || string.IsNullOrEmpty(name) || value is null) return "a bad header";
            headers.Add(KeyValuePair.Create(name, value));
        }
        if (!r.Int(out int length)) return "no body length";
        if (length < 0 || length != r.Remaining) return $"a body of {length} bytes where {r.Remaining} follow";
        r.Bytes(length, out byte[] body);
        result = new PassThroughResult(new PassThroughAnswer(headers, body));
        age = TimeSpan.FromMilliseconds(ageMs);
        return null;
    }
}
