using System.Buffers.Binary;
using System.Security.Cryptography;

namespace BlobCache.Protocol.Security;

/// <summary>Why a packet could not be opened (it is then dropped, not parsed).</summary>
public enum OpenStatus
{
    Ok,
    /// <summary>Shorter than a header, nonce and tag.</summary>
    TooShort,
    /// <summary>Not a sealed packet at all (plain-text gossip from an <c>--insecure</c> node, or noise).</summary>
    NotSealed,
    /// <summary>A sealed packet of a format version this node does not read.</summary>
    UnknownVersion,
    /// <summary>Sealed under a key this node does not hold (another mesh, or a rotation step done out of order).</summary>
    UnknownKey,
    /// <summary>The tag does not verify: the packet was altered, or forged.</summary>
    BadTag,
}

/// <summary>
/// Authenticated encryption of gossip datagrams with AES-256-GCM, over spans (no allocation per packet).
/// </summary>
/// <remarks>
/// Layout: <c>[0xBE magic][version 1][key fingerprint, 4 bytes big-endian][nonce, 12][ciphertext][tag, 16]</c>.
/// The six header bytes are the additional data, so neither the version nor the key id can be changed without the
/// tag failing. The nonce is 12 fresh random bytes per packet: nodes share keys, so a counter would need
/// coordination between them; with random nonces the chance of any repeat among n packets under one key is about
/// n²/2⁹⁷ (10¹¹ packets, a day of a 100,000-node mesh: 6·10⁻⁸), which is one reason to rotate keys regularly.
/// The magic differs from plain-text gossip's (0xBC), so either side can tell the other mode apart and say so.
/// </remarks>
public static class GossipSeal
{
    public const byte Magic = 0xBE;
    public const byte Version = 1;
    public const int HeaderBytes = 6;
    public const int NonceBytes = 12;
    public const int TagBytes = 16;

    /// <summary>Bytes a sealed packet adds to its plaintext: 34.</summary>
    public const int Overhead = HeaderBytes + NonceBytes + TagBytes;

    /// <summary>
    /// Seals <paramref name="plaintext"/> under <paramref name="ring"/>'s primary key into <paramref name="packet"/>;
    /// returns the packet's length (plaintext + <see cref="Overhead"/>). Throws <see cref="ArgumentException"/> when
    /// <paramref name="packet"/> is too small.
    /// </summary>
    public static int Seal(Keyring ring, ReadOnlySpan<byte> plaintext, Span<byte> packet)
    {
        ArgumentNullException.ThrowIfNull(ring);
        int length = plaintext.Length + Overhead;
        if (packet.Length < length) throw new ArgumentException($"a sealed packet needs {length} bytes, the buffer has {packet.Length}", nameof(packet));
        KeyEntry key = ring.Primary;
        packet[0] = Magic;
        packet[1] = Version;
        BinaryPrimitives.WriteUInt32BigEndian(packet[2..], key.Fingerprint);
        Span<byte> nonce = packet.Slice(HeaderBytes, NonceBytes);
        FillNonce(nonce);
        int body = HeaderBytes + NonceBytes;
        key.Seal(nonce, plaintext, packet.Slice(body, plaintext.Length), packet.Slice(body + plaintext.Length, TagBytes), packet[..HeaderBytes]);
        return length;
    }

    /// <summary>
    /// Checks and decrypts <paramref name="packet"/> into <paramref name="plaintext"/> (at least
    /// <c>packet.Length - Overhead</c> bytes). Any key of the ring is accepted; the header names which. Never throws
    /// for bad input: the status says what was wrong, and nothing of a failed packet is left in
    /// <paramref name="plaintext"/>.
    /// </summary>
    public static OpenStatus Open(Keyring ring, ReadOnlySpan<byte> packet, Span<byte> plaintext, out int written, out KeyEntry? key)
    {
        ArgumentNullException.ThrowIfNull(ring);
        written = 0;
        key = null;
        if (packet.Length < 1 || packet[0] != Magic) return OpenStatus.NotSealed;
        if (packet.Length < Overhead) return OpenStatus.TooShort;
        if (packet[1] != Version) return OpenStatus.UnknownVersion;
        key = ring.Find(BinaryPrimitives.ReadUInt32BigEndian(packet[2..]));
        if (key is null) return OpenStatus.UnknownKey;
        int length = packet.Length - Overhead;
        if (plaintext.Length < length) throw new ArgumentException($"the plaintext buffer needs {length} bytes, it has {plaintext.Length}", nameof(plaintext));
        int body = HeaderBytes + NonceBytes;
        if (!key.TryOpen(packet.Slice(HeaderBytes, NonceBytes), packet.Slice(body, length), packet.Slice(body + length, TagBytes), plaintext[..length], packet[..HeaderBytes]))
            return OpenStatus.BadTag;
        written = length;
        return OpenStatus.Ok;
    }

    // One call into the system's generator per 341 nonces instead of one per packet: on a busy machine a call costs
    // microseconds, more than sealing the packet. Nonces are public (they travel in the header), so holding the
    // next few in memory reveals nothing; each thread has its own pool, so no lock.
    private const int NoncePoolBytes = NonceBytes * 341;
    [ThreadStatic] private static byte[]? t_noncePool;
    [ThreadStatic] private static int t_nonceUsed;

    private static void FillNonce(Span<byte> nonce)
    {
        byte[]? pool = t_noncePool;
        if (pool is null || t_nonceUsed + NonceBytes > pool.Length)
        {
            pool = t_noncePool ??= new byte[NoncePoolBytes];
            RandomNumberGenerator.Fill(pool);
            t_nonceUsed = 0;
        }
        Span<byte> next = pool.AsSpan(t_nonceUsed, NonceBytes);
        next.CopyTo(nonce);
        next.Clear(); // a nonce is handed out once
        t_nonceUsed += NonceBytes;
    }

    /// <summary>The fingerprint a sealed packet names (for a log line about a key this node lacks).</summary>
    public static uint FingerprintOf(ReadOnlySpan<byte> packet) =>
        packet.Length >= HeaderBytes ? BinaryPrimitives.ReadUInt32BigEndian(packet[2..]) : 0;

    /// <summary>A short reason for a log line.</summary>
    public static string Describe(OpenStatus status) => status switch
    {
        OpenStatus.Ok => "ok",
        OpenStatus.TooShort => "too short for a sealed packet",
        OpenStatus.NotSealed => "not encrypted (a node running --insecure?)",
        OpenStatus.UnknownVersion => "sealed with an unknown format version",
        OpenStatus.UnknownKey => "sealed under a key this node does not hold",
        OpenStatus.BadTag => "failed authentication (altered or forged)",
        _ => status.ToString(),
    };
}
