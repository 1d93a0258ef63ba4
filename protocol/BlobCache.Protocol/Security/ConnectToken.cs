using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace BlobCache.Protocol.Security;

/// <summary>Why a connection request was refused.</summary>
public enum ConnectCheck
{
    Ok,
    /// <summary>Not a token of this format (a plain or foreign request, or garbage).</summary>
    Malformed,
    /// <summary>Signed with a key this node does not hold.</summary>
    UnknownKey,
    /// <summary>The timestamp is too far from this node's clock (a replay, or clocks that disagree).</summary>
    Stale,
    /// <summary>The signature does not verify.</summary>
    BadMac,
    /// <summary>A genuine token already used from another address (captured and replayed).</summary>
    Replayed,
}

/// <summary>
/// The credential a UDP chunk client puts in its connection request: who it is, when, and an HMAC-SHA256 under a
/// subkey of a ring key that also covers the address it is connecting to (so a request seen on the wire cannot be
/// replayed to another node). Layout: <c>[version 1][key fingerprint, 4][unix ms, 8][id length, 1][id UTF-8][mac, 32]</c>.
/// </summary>
public static class ConnectToken
{
    public const byte Version = 1;
    public const int MacBytes = 32;
    private const int FixedBytes = 1 + 4 + 8 + 1;
    private const int TimeOffset = 1 + 4;
    private const int MaxIdBytes = 255;
    private const int MaxTargetBytes = 255;

    /// <summary>Shortest token (a one-byte node id).</summary>
    public const int MinBytes = FixedBytes + 1 + MacBytes;

    /// <summary>Largest token.</summary>
    public const int MaxBytes = FixedBytes + MaxIdBytes + MacBytes;

    /// <summary>How far a token's time may be from the checker's clock.</summary>
    public static readonly TimeSpan MaxSkew = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Writes a token for <paramref name="nodeId"/> connecting to <paramref name="target"/> (the owner's advertised
    /// host:port) at <paramref name="unixMs"/>, signed with the ring's primary key. Returns its length.
    /// </summary>
    public static int Write(Keyring ring, string nodeId, string target, long unixMs, Span<byte> token)
    {
        ArgumentNullException.ThrowIfNull(ring);
        int idBytes = Encoding.UTF8.GetByteCount(nodeId);
        if (idBytes is 0 or > MaxIdBytes) throw new ArgumentException($"node id must be 1 to {MaxIdBytes} UTF-8 bytes", nameof(nodeId));
        int length = FixedBytes + idBytes + MacBytes;
        if (token.Length < length) throw new ArgumentException($"a token needs {length} bytes", nameof(token));
        KeyEntry key = ring.Primary;
        token[0] = Version;
        BinaryPrimitives.WriteUInt32BigEndian(token[1..], key.Fingerprint);
        BinaryPrimitives.WriteInt64BigEndian(token[TimeOffset..], unixMs);
        token[13] = (byte)idBytes;
        Encoding.UTF8.GetBytes(nodeId, token.Slice(FixedBytes, idBytes));
        int signed = FixedBytes + idBytes;
        if (!Mac(key, token[..signed], target, token.Slice(signed, MacBytes))) throw new ArgumentException($"target must be at most {MaxTargetBytes} UTF-8 bytes", nameof(target));
        return length;
    }

    /// <summary>
    /// Checks a token received by the node whose advertised address is <paramref name="target"/>, at
    /// <paramref name="nowUnixMs"/>. Never throws for bad input. <paramref name="nodeId"/> is the claimed id (set
    /// once the format is valid, for a log line, trusted only when the result is <see cref="ConnectCheck.Ok"/>).
    /// </summary>
    public static ConnectCheck Check(Keyring ring, ReadOnlySpan<byte> token, string target, long nowUnixMs, out string? nodeId)
    {
        ArgumentNullException.ThrowIfNull(ring);
        nodeId = null;
        if (token.Length < MinBytes || token[0] != Version) return ConnectCheck.Malformed;
        int idBytes = token[13];
        if (idBytes == 0 || token.Length != FixedBytes + idBytes + MacBytes) return ConnectCheck.Malformed;
        try
        {
            nodeId = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(token.Slice(FixedBytes, idBytes));
        }
        catch (ArgumentException)
        {
            return ConnectCheck.Malformed;
        }
        KeyEntry? key = ring.Find(BinaryPrimitives.ReadUInt32BigEndian(token[1..]));
        if (key is null) return ConnectCheck.UnknownKey;
        int signed = FixedBytes + idBytes;
        Span<byte> expected = stackalloc byte[MacBytes];
        if (!Mac(key, token[..signed], target, expected) || !CryptographicOperations.FixedTimeEquals(expected, token.Slice(signed, MacBytes)))
            return ConnectCheck.BadMac;
        // The time is checked after the MAC, so "stale" is only ever said of a genuine (replayed or skewed) token.
        long at = IssuedAt(token);
        long skew = (long)MaxSkew.TotalMilliseconds;
        return at < nowUnixMs - skew || at > nowUnixMs + skew ? ConnectCheck.Stale : ConnectCheck.Ok;
    }

    /// <summary>The time a token claims (unix ms); to be trusted only of a token <see cref="Check"/> accepted.</summary>
    public static long IssuedAt(ReadOnlySpan<byte> token) => BinaryPrimitives.ReadInt64BigEndian(token[TimeOffset..]);

    private static bool Mac(KeyEntry key, ReadOnlySpan<byte> signed, string target, Span<byte> mac)
    {
        Span<byte> input = stackalloc byte[FixedBytes + MaxIdBytes + MaxTargetBytes];
        if (Encoding.UTF8.GetByteCount(target) > MaxTargetBytes) return false;
        signed.CopyTo(input);
        int n = signed.Length + Encoding.UTF8.GetBytes(target, input[signed.Length..]);
        HMACSHA256.HashData(key.ConnectKey, input[..n], mac);
        return true;
    }

    /// <summary>A short reason for a log line.</summary>
    public static string Describe(ConnectCheck check) => check switch
    {
        ConnectCheck.Ok => "ok",
        ConnectCheck.Malformed => "no valid credential (a node running --insecure, or not a blobcache node)",
        ConnectCheck.UnknownKey => "signed with a key this node does not hold",
        ConnectCheck.Stale => $"timestamp more than {MaxSkew.TotalSeconds:F0} s from this node's clock (replayed, or clocks disagree)",
        ConnectCheck.BadMac => "bad signature",
        ConnectCheck.Replayed => "a credential already used from another address (replayed)",
        _ => check.ToString(),
    };
}
