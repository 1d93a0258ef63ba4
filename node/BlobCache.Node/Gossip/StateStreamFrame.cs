using System.Buffers.Binary;
using BlobCache.Protocol.Gossip;
using BlobCache.Protocol.Security;

namespace BlobCache.Node.Gossip;

/// <summary>
/// One state transfer on a TCP connection to the gossip port: a 4-byte big-endian length, then the frame of
/// <see cref="GossipCodec.EncodeStream"/>, sealed with the gossip keyring exactly as a datagram is when there is one
/// (<see cref="GossipSeal"/>: AES-GCM, the key's fingerprint in the header), plain under --insecure. One frame per
/// connection; the sender closes after writing it.
/// </summary>
public static class StateStreamFrame
{
    public const int LengthBytes = 4;

    /// <summary>Largest frame (after the length) a receiver with <paramref name="limits"/> reads: the codec's bound plus the seal.</summary>
    public static int MaxFrameBytes(WireLimits limits) => limits.MaxStreamBytes + GossipSeal.Overhead;

    /// <summary>Length prefix and frame, sealed under <paramref name="ring"/>'s primary key when there is a ring.</summary>
    public static byte[] Build(ReadOnlySpan<byte> payload, Keyring? ring)
    {
        int length = payload.Length + (ring is null ? 0 : GossipSeal.Overhead);
        byte[] wire = new byte[LengthBytes + length];
        BinaryPrimitives.WriteInt32BigEndian(wire, length);
        if (ring is null) payload.CopyTo(wire.AsSpan(LengthBytes));
        else GossipSeal.Seal(ring, payload, wire.AsSpan(LengthBytes));
        return wire;
    }

    /// <summary>The frame's declared length, or an error when it is out of bounds.</summary>
    public static string? ReadLength(ReadOnlySpan<byte> prefix, WireLimits limits, out int length)
    {
        length = BinaryPrimitives.ReadInt32BigEndian(prefix);
        int max = MaxFrameBytes(limits);
        return length <= 0 ? $"frame length {length}" : length > max ? $"frame of {length} bytes exceeds the limit of {max}" : null;
    }

    /// <summary>
    /// Opens a received frame in place: under a keyring it must be sealed under one of its keys, under --insecure it
    /// must not be sealed. Returns the plaintext (a slice of <paramref name="frame"/>) or null and why not.
    /// </summary>
    public static Memory<byte>? Open(Memory<byte> frame, Keyring? ring, out string? error)
    {
        error = null;
        if (ring is null)
        {
            if (frame.Span[0] != GossipSeal.Magic) return frame;
            error = "sealed (encrypted) but this node runs --insecure";
            return null;
        }
        // AES-GCM decrypts in place: the plaintext goes where the ciphertext began, past the header and nonce.
        Span<byte> span = frame.Span;
        OpenStatus status = GossipSeal.Open(ring, span, span[(GossipSeal.HeaderBytes + GossipSeal.NonceBytes)..], out int written, out _);
        if (status == OpenStatus.Ok) return frame.Slice(GossipSeal.HeaderBytes + GossipSeal.NonceBytes, written);
        error = status == OpenStatus.UnknownKey
            ? $"sealed under key {GossipSeal.FingerprintOf(span):x8}, this node holds {ring}"
            : GossipSeal.Describe(status);
        return null;
    }
}
