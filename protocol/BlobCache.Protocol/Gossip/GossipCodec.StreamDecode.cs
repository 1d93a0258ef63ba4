using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.IO.Compression;
using System.Text;
using MessagePack;

namespace BlobCache.Protocol.Gossip;

// Stream decoding: the frame and its decompressed body are bounded before a byte is allocated for them, and the body
// is parsed with the same checked reader as datagrams.
public static partial class GossipCodec
{
    // member: fixarray, 1-byte id (2), eleven 1-byte numbers.
    private const int MinStreamMemberBytes = 1 + 2 + 11;

    /// <summary>
    /// Decodes one stream frame (as <see cref="EncodeStream"/> makes it). Never throws: a malformed, oversized or
    /// unknown frame gives false and an <paramref name="error"/>.
    /// </summary>
    public static bool TryDecodeStream(ReadOnlyMemory<byte> frame, WireLimits limits, [NotNullWhen(true)] out GossipMessage? message, [NotNullWhen(false)] out string? error)
    {
        message = null;
        error = CheckStreamPreamble(frame.Span, limits);
        if (error is not null) return false;
        ReadOnlyMemory<byte> body = frame[StreamPreambleBytes..];
        if ((frame.Span[2] & StreamCompressed) != 0)
        {
            if (!TryDecompress(frame.Span[StreamPreambleBytes..], limits, out byte[]? plain, out error)) return false;
            body = plain;
        }
        try
        {
            var reader = new WireReader(body);
            message = ReadStreamBody(ref reader, limits);
            error = reader.Error;
        }
        catch (Exception e) when (e is MessagePackSerializationException or EndOfStreamException or OverflowException or ArgumentException or InvalidOperationException)
        {
            // Unreachable if the checks are complete; kept so a gap there costs one transfer, not the process.
            message = null;
            error = $"decoder fault: {e.GetType().Name}: {e.Message}";
        }
        if (message is not null) return true;
        error ??= "malformed stream frame";
        return false;
    }

    private static string? CheckStreamPreamble(ReadOnlySpan<byte> frame, WireLimits limits)
    {
        if (limits is null) return "no wire limits given";
        if (frame.Length <= StreamPreambleBytes) return $"stream frame too short: {frame.Length} bytes";
        if (frame[0] != StreamMagic) return $"bad stream magic byte 0x{frame[0]:X2} (expected 0x{StreamMagic:X2})";
        if (frame[1] != StreamFormatVersion) return $"unsupported stream format version {frame[1]} (this decoder reads version {StreamFormatVersion})";
        if ((frame[2] & ~StreamCompressed) != 0) return $"unknown stream flags 0x{frame[2]:X2}";
        if (frame.Length > limits.MaxStreamBytes) return $"stream frame of {frame.Length} bytes exceeds MaxStreamBytes ({limits.MaxStreamBytes})";
        return null;
    }

    /// <summary>Decompresses into a buffer that grows with what actually comes out, never past the declared length or its bounds.</summary>
    private static bool TryDecompress(ReadOnlySpan<byte> packed, WireLimits limits, [NotNullWhen(true)] out byte[]? plain, [NotNullWhen(false)] out string? error)
    {
        plain = null;
        if (packed.Length < 4) return Failed("compressed stream frame has no body length", out error);
        long declared = BinaryPrimitives.ReadUInt32BigEndian(packed);
        ReadOnlySpan<byte> source = packed[4..];
        if (declared == 0) return Failed("compressed stream body declares 0 bytes", out error);
        if (declared > limits.MaxStreamBytes) return Failed($"stream body of {declared} bytes exceeds MaxStreamBytes ({limits.MaxStreamBytes})", out error);
        if (declared > (long)source.Length * MaxCompressionRatio + 1024)
            return Failed($"stream body of {declared} bytes from {source.Length} compressed is more than {MaxCompressionRatio}× (refused as a bomb)", out error);

        byte[] buffer = new byte[(int)Math.Min(declared, Math.Max(4096, 4L * source.Length))];
        // Not a using declaration: that would make the struct read-only, and each call would work on a fresh copy.
        var decoder = new BrotliDecoder();
        try
        {
            return Inflate(ref decoder, source, buffer, declared, out plain, out error);
        }
        finally
        {
            decoder.Dispose();
        }
    }

    private static bool Inflate(ref BrotliDecoder decoder, ReadOnlySpan<byte> source, byte[] buffer, long declared, [NotNullWhen(true)] out byte[]? plain, [NotNullWhen(false)] out string? error)
    {
        plain = null;
        int written = 0;
        while (true)
        {
            OperationStatus status = decoder.Decompress(source, buffer.AsSpan(written), out int consumed, out int produced);
            source = source[consumed..];
            written += produced;
            switch (status)
            {
                case OperationStatus.Done:
                    if (!source.IsEmpty) return Failed($"{source.Length} bytes after the compressed stream body", out error);
                    if (written != declared) return Failed($"compressed stream body is {written} bytes, declared {declared}", out error);
                    plain = buffer.Length == written ? buffer : buffer[..written];
                    error = null;
                    return true;
                case OperationStatus.DestinationTooSmall:
                    if (buffer.Length >= declared) return Failed($"compressed stream body is longer than the declared {declared} bytes", out error);
                    Array.Resize(ref buffer, (int)Math.Min(declared, 2L * buffer.Length));
                    break;
                case OperationStatus.NeedMoreData:
                    return Failed("compressed stream body is truncated", out error);
                default:
                    return Failed("compressed stream body is not valid Brotli", out error);
            }
        }
    }

    private static bool Failed(string why, out string error)
    {
        error = why;
        return false;
    }

    private static GossipMessage? ReadStreamBody(ref WireReader r, WireLimits limits)
    {
        if (!r.TryReadArrayHeader("stream body", StreamBodyFieldCount, out int fields)) return null;
        if (!r.TryReadUInt32("message kind", out uint kind)) return null;
        if (kind != (uint)MessageKind.PushPull) return Fail(ref r, $"message kind {kind} does not travel by stream (only push-pull state does)");
        if (!r.TryReadString("SourceId", allowEmpty: false, out string sourceId)
            || !r.TryReadString("SourceAddress", allowEmpty: true, out string sourceAddress)
            || !r.TryReadBoolean("Join", out bool join)
            || !r.TryReadBoolean("IsReply", out bool isReply)
            || !TryReadStringTable(ref r, limits, out string[] strings)
            || !TryReadStreamMembers(ref r, limits, strings, out MemberRecord[] members)
            || !TryReadUpdates(ref r, limits, out MemberUpdate[] updates)
            || !TryReadDigest(ref r, out uint[] digest)
            || !r.TrySkip("extra stream body field", fields - StreamBodyFieldCount))
            return null;
        if (!r.AtEnd) return Fail(ref r, $"{r.Remaining} trailing bytes after the stream body");
        return new PushPull { SourceId = sourceId, SourceAddress = sourceAddress, Join = join, IsReply = isReply, Members = members, Updates = updates, Digest = digest };
    }

    private static bool TryReadStringTable(ref WireReader r, WireLimits limits, out string[] strings)
    {
        strings = [];
        // At most five new strings per member (three hosts, region, zone), plus one spare for an empty table entry.
        long max = 5L * limits.MaxPushPullMembers + 1;
        if (!r.TryReadArrayHeader("strings", 0, out int count, (int)Math.Min(int.MaxValue, max), "5 × MaxPushPullMembers")) return false;
        if (count == 0) return true;
        strings = new string[count];
        for (int i = 0; i < count; i++)
            if (!r.TryReadString("string", allowEmpty: true, out strings[i])) return false;
        return true;
    }

    private static bool TryReadStreamMembers(ref WireReader r, WireLimits limits, string[] strings, out MemberRecord[] members)
    {
        members = [];
        if (!r.TryReadArrayHeader("members", 0, out int count, limits.MaxPushPullMembers, nameof(WireLimits.MaxPushPullMembers))) return false;
        if ((long)count * MinStreamMemberBytes > r.Remaining) return r.Fail($"{count} members cannot fit in the {r.Remaining} bytes left");
        if (count == 0) return true;
        members = new MemberRecord[count];
        for (int i = 0; i < count; i++)
            if (!TryReadStreamMember(ref r, strings, out members[i])) return false;
        return true;
    }

    private static bool TryReadStreamMember(ref WireReader r, string[] strings, out MemberRecord member)
    {
        member = default;
        if (!r.TryReadArrayHeader("member", StreamMemberFieldCount, out int fields)
            || !r.TryReadString("member Id", allowEmpty: false, out string id)
            || !TryReadAddress(ref r, strings, "member GossipAddress", out string gossip)
            || !TryReadAddress(ref r, strings, "member GrpcAddress", out string grpc)
            || !TryReadAddress(ref r, strings, "member UdpAddress", out string udp)
            || !TryReadTableString(ref r, strings, "member Region", out string region)
            || !TryReadTableString(ref r, strings, "member Zone", out string zone)
            || !r.TryReadUInt16("member Weight", out ushort weight)
            || !r.TryReadUInt32("member Version", out uint version)
            || !r.TryReadUInt32("member Incarnation", out uint incarnation)
            || !r.TryReadUInt32("member State", out uint rawState))
            return false;
        var state = (MemberState)rawState;
        if (state is not (MemberState.Alive or MemberState.Suspect or MemberState.Dead or MemberState.Left))
            return r.Fail($"invalid member state {rawState} for '{id}'");
        if (!r.TrySkip("extra member field", fields - StreamMemberFieldCount)) return false;
        member = new MemberRecord(new MemberMeta(id, gossip, grpc, udp, region, zone, weight, version), incarnation, state);
        return true;
    }

    private static bool TryReadTableString(ref WireReader r, string[] strings, string what, out string value)
    {
        value = "";
        if (!r.TryReadUInt32(what, out uint i)) return false;
        if (i >= strings.Length) return r.Fail($"{what}: string {i} is not in the table of {strings.Length}");
        value = strings[i];
        return true;
    }

    private static bool TryReadAddress(ref WireReader r, string[] strings, string what, out string address)
    {
        address = "";
        if (!TryReadTableString(ref r, strings, what, out string host) || !r.TryReadUInt32(what + " port", out uint port)) return false;
        if (port > ushort.MaxValue) return r.Fail($"{what}: port {port} is out of range");
        address = JoinAddress(host, port);
        // The joined address is held to the same bound as any string on the wire.
        if (port != 0 && Encoding.UTF8.GetByteCount(address) > WireLimits.MaxStringBytes)
            return r.Fail($"{what}: address exceeds the limit of {WireLimits.MaxStringBytes} bytes");
        return true;
    }
}
