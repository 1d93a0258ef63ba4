using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;
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
/// str: u16 length | UTF-8; integers little-endian
/// </code>
/// </summary>
public static class PeerPassThrough
{
    /// <summary>Largest answer a decoder takes: a List Blobs page of 5,000 entries with their metadata fits.</summary>
    public const int MaxEncodedBytes = 16 * 1024 * 1024;

    public static byte[]? Encode(PassThroughResult result, TimeSpan age)
    {
        var headers = result.Answer?.Headers ?? [];
        byte[] body = result.Answer?.Body ?? [];
        int size = 1 + 8 + 2 + 4 + body.Length + 4 + 3 * 2 + Encoding.UTF8.GetByteCount(result.Code) + Encoding.UTF8.GetByteCount(result.Message);
        foreach ((string name, string value) in headers) size += 4 + Encoding.UTF8.GetByteCount(name) + Encoding.UTF8.GetByteCount(value);
        if (size > MaxEncodedBytes || headers.Count > ushort.MaxValue) return null;
        byte[] to = new byte[size];
        int at = 0;
        to[at++] = result.Answer is null ? (byte)2 : (byte)1;
        BinaryPrimitives.WriteInt64LittleEndian(to.AsSpan(at), (long)age.TotalMilliseconds);
        at += 8;
        if (result.Answer is null)
        {
            BinaryPrimitives.WriteInt32LittleEndian(to.AsSpan(at), result.Status);
            at += 4;
            if (!Text(to, ref at, result.Code) || !Text(to, ref at, result.Message)) return null;
            return to[..at];
        }
        BinaryPrimitives.WriteUInt16LittleEndian(to.AsSpan(at), (ushort)headers.Count);
        at += 2;
        foreach ((string name, string value) in headers)
        {
            if (!Text(to, ref at, name) || !Text(to, ref at, value)) return null;
        }
        BinaryPrimitives.WriteInt32LittleEndian(to.AsSpan(at), body.Length);
        at += 4;
        body.CopyTo(to, at);
        return to[..(at + body.Length)];
    }

    private static bool Text(byte[] to, ref int at, string s)
    {
        int n = Encoding.UTF8.GetByteCount(s);
        if (n > ushort.MaxValue) return false;
        BinaryPrimitives.WriteUInt16LittleEndian(to.AsSpan(at), (ushort)n);
        at += 2 + Encoding.UTF8.GetBytes(s, to.AsSpan(at + 2));
        return true;
    }

    /// <summary>Null when <paramref name="from"/> is exactly one well-formed answer, else what is wrong with it. Never throws.</summary>
    public static string? TryDecode(ReadOnlySpan<byte> from, out PassThroughResult? result, out TimeSpan age)
    {
        result = null;
        age = default;
        if (from.Length > MaxEncodedBytes) return $"an answer of {from.Length} bytes";
        if (from.Length < 9) return "a truncated header";
        byte kind = from[0];
        long ageMs = BinaryPrimitives.ReadInt64LittleEndian(from[1..]);
        if (kind is < 1 or > 2) return $"kind {kind}";
        if (ageMs is < 0 or > PeerMetadata.MaxAgeMs) return $"an age of {ageMs} ms";
        int at = 9;
        if (kind == 2)
        {
            if (from.Length - at < 4) return "no status";
            int status = BinaryPrimitives.ReadInt32LittleEndian(from[at..]);
            at += 4;
            if (status is < 400 or > 599) return $"an error status {status}";
            if (!TryText(from, ref at, out string code) || !TryText(from, ref at, out string message)) return "a bad error text";
            if (at != from.Length) return "trailing bytes";
            result = new PassThroughResult(null, status, code, message);
            age = TimeSpan.FromMilliseconds(ageMs);
            return null;
        }
        if (from.Length - at < 2) return "no header count";
        int count = BinaryPrimitives.ReadUInt16LittleEndian(from[at..]);
        at += 2;
        var headers = new List<KeyValuePair<string, string>>(Math.Min(count, 64));
        for (int i = 0; i < count; i++)
        {
            if (!TryText(from, ref at, out string name) || !TryText(from, ref at, out string value) || name.Length == 0) return "a bad header";
            headers.Add(KeyValuePair.Create(name, value));
        }
        if (from.Length - at < 4) return "no body length";
        int length = BinaryPrimitives.ReadInt32LittleEndian(from[at..]);
        at += 4;
        if (length < 0 || length != from.Length - at) return $"a body of {length} bytes where {from.Length - at} follow";
        result = new PassThroughResult(new PassThroughAnswer(headers, from[at..].ToArray()));
        age = TimeSpan.FromMilliseconds(ageMs);
        return null;
    }

    private static bool TryText(ReadOnlySpan<byte> from, ref int at, out string s)
    {
        s = "";
        if (from.Length - at < 2) return false;
        int n = BinaryPrimitives.ReadUInt16LittleEndian(from[at..]);
        if (from.Length - at - 2 < n || !Utf8.IsValid(from.Slice(at + 2, n))) return false;
        s = Encoding.UTF8.GetString(from.Slice(at + 2, n));
        at += 2 + n;
        return true;
    }
}
