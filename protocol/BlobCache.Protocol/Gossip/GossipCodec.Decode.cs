using System.Diagnostics.CodeAnalysis;
using MessagePack;

namespace BlobCache.Protocol.Gossip;

// Decoding: every bound is checked before the bytes it guards are read or allocated for.
public static partial class GossipCodec
{
    // Smallest possible encodings, used to reject element counts the remaining bytes cannot hold.
    // update: fixarray, kind, 1-byte id (2), incarnation, empty from, nil meta.
    private const int MinUpdateBytes = 1 + 1 + 2 + 1 + 1 + 1;
    // member: fixarray, meta (fixarray, 1-byte id, five empty strings, weight, version), incarnation, state.
    private const int MinMemberBytes = 1 + (1 + 2 + 5 + 1 + 1) + 1 + 1;

    /// <summary>Decodes one packet. Never throws: any malformed, oversized or unknown input gives false and an <paramref name="error"/>.</summary>
    public static bool TryDecode(ReadOnlyMemory<byte> packet, WireLimits limits, [NotNullWhen(true)] out GossipMessage? message, [NotNullWhen(false)] out string? error)
    {
        message = null;
        error = CheckPreamble(packet.Span, limits);
        if (error is not null) return false;
        try
        {
            var reader = new WireReader(packet[PreambleBytes..]);
            message = ReadMessage(ref reader, limits, packet.Length);
            error = reader.Error;
        }
        catch (Exception e) when (e is MessagePackSerializationException or EndOfStreamException or OverflowException or ArgumentException or InvalidOperationException)
        {
            // Unreachable if the checks above are complete; kept so a gap there costs one packet, not the process.
            message = null;
            error = $"decoder fault: {e.GetType().Name}: {e.Message}";
        }
        if (message is not null) return true;
        error ??= "malformed packet";
        return false;
    }

    private static string? CheckPreamble(ReadOnlySpan<byte> packet, WireLimits limits)
    {
        if (limits is null) return "no wire limits given";
        if (packet.IsEmpty) return "empty packet";
        if (packet.Length <= PreambleBytes) return $"packet too short: {packet.Length} bytes";
        if (packet[0] != Magic) return $"bad magic byte 0x{packet[0]:X2} (expected 0x{Magic:X2})";
        if (packet[1] != FormatVersion) return $"unsupported format version {packet[1]} (this decoder reads version {FormatVersion})";
        // The per-kind limit is applied once the kind is known; this bound comes first so nothing larger is parsed at all.
        int largest = Math.Max(limits.MaxPacketBytes, limits.MaxPushPullBytes);
        if (packet.Length > largest) return $"packet of {packet.Length} bytes exceeds the largest allowed size of {largest}";
        return null;
    }

    private static GossipMessage? ReadMessage(ref WireReader r, WireLimits limits, int packetLength)
    {
        if (!r.TryReadArrayHeader("message", 2, out int fields)) return null;
        if (!r.TryReadUInt32("message kind", out uint rawKind)) return null;
        var kind = (MessageKind)rawKind;
        if (kind is < MessageKind.Ping or > MessageKind.PushPull) return Fail(ref r, $"unknown message kind {rawKind}");

        int limit = kind == MessageKind.PushPull ? limits.MaxPushPullBytes : limits.MaxPacketBytes;
        string limitName = kind == MessageKind.PushPull ? nameof(WireLimits.MaxPushPullBytes) : nameof(WireLimits.MaxPacketBytes);
        if (packetLength > limit) return Fail(ref r, $"{kind} packet of {packetLength} bytes exceeds {limitName} ({limit})");

        int required = RequiredFieldCount(kind);
        if (fields < required) return Fail(ref r, $"{kind} message has {fields} fields, needs at least {required}");
        int known = Math.Min(fields, FieldCount(kind));

        if (!r.TryReadString("SourceId", allowEmpty: false, out string sourceId)) return null;
        GossipMessage? message = kind switch
        {
            MessageKind.Ping => ReadPing(ref r, limits, sourceId),
            MessageKind.IndirectPing => ReadIndirectPing(ref r, limits, sourceId),
            MessageKind.Ack => ReadSeq(ref r, out uint ackSeq) && TryReadUpdates(ref r, limits, out MemberUpdate[] ackUpdates)
                ? new Ack { SourceId = sourceId, Seq = ackSeq, Updates = ackUpdates } : null,
            MessageKind.Nack => ReadSeq(ref r, out uint nackSeq) && TryReadUpdates(ref r, limits, out MemberUpdate[] nackUpdates)
                ? new Nack { SourceId = sourceId, Seq = nackSeq, Updates = nackUpdates } : null,
            MessageKind.Gossip => TryReadUpdates(ref r, limits, out MemberUpdate[] updates)
                ? new Gossip { SourceId = sourceId, Updates = updates } : null,
            _ => ReadPushPull(ref r, limits, sourceId, hasDigest: known > required),
        };
        if (message is null) return null;

        // Fields a later minor version appended: skipped, not understood.
        if (!r.TrySkip("extra message field", fields - known)) return null;
        if (!r.AtEnd) return Fail(ref r, $"{r.Remaining} trailing bytes after the message");
        return message;
    }

    private static bool ReadSeq(ref WireReader r, out uint seq) => r.TryReadUInt32("Seq", out seq);

    private static Ping? ReadPing(ref WireReader r, WireLimits limits, string sourceId)
    {
        if (!ReadSeq(ref r, out uint seq)
            || !r.TryReadString("TargetId", allowEmpty: false, out string targetId)
            || !r.TryReadString("SourceAddress", allowEmpty: true, out string sourceAddress)
            || !TryReadUpdates(ref r, limits, out MemberUpdate[] updates))
            return null;
        return new Ping { SourceId = sourceId, Seq = seq, TargetId = targetId, SourceAddress = sourceAddress, Updates = updates };
    }

    private static IndirectPing? ReadIndirectPing(ref WireReader r, WireLimits limits, string sourceId)
    {
        if (!ReadSeq(ref r, out uint seq)
            || !r.TryReadString("TargetId", allowEmpty: false, out string targetId)
            || !r.TryReadString("TargetAddress", allowEmpty: true, out string targetAddress)
            || !r.TryReadString("SourceAddress", allowEmpty: true, out string sourceAddress)
            || !r.TryReadBoolean("WantNack", out bool wantNack)
            || !TryReadUpdates(ref r, limits, out MemberUpdate[] updates))
            return null;
        return new IndirectPing
        {
            SourceId = sourceId, Seq = seq, TargetId = targetId, TargetAddress = targetAddress,
            SourceAddress = sourceAddress, WantNack = wantNack, Updates = updates,
        };
    }

    private static PushPull? ReadPushPull(ref WireReader r, WireLimits limits, string sourceId, bool hasDigest)
    {
        uint[] digest = [];
        if (!r.TryReadString("SourceAddress", allowEmpty: true, out string sourceAddress)
            || !r.TryReadBoolean("Join", out bool join)
            || !r.TryReadBoolean("IsReply", out bool isReply)
            || !TryReadMembers(ref r, limits, out MemberRecord[] members)
            || !TryReadUpdates(ref r, limits, out MemberUpdate[] updates)
            || (hasDigest && !TryReadDigest(ref r, out digest)))
            return null;
        return new PushPull { SourceId = sourceId, SourceAddress = sourceAddress, Join = join, IsReply = isReply, Members = members, Updates = updates, Digest = digest };
    }

    private static bool TryReadDigest(ref WireReader r, out uint[] digest)
    {
        digest = [];
        if (!r.TryReadBinary("Digest", WireLimits.MaxDigestBuckets * sizeof(uint), out ReadOnlySpan<byte> bytes)) return false;
        int buckets = bytes.Length / sizeof(uint);
        if (bytes.Length % sizeof(uint) != 0 || !IsDigestSize(buckets))
            return r.Fail($"Digest of {bytes.Length} bytes is not a power of two of 4-byte buckets");
        if (buckets == 0) return true;
        digest = new uint[buckets];
        for (int i = 0; i < buckets; i++) digest[i] = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes[(i * sizeof(uint))..]);
        return true;
    }

    /// <summary>0 or a power of two, at most <see cref="WireLimits.MaxDigestBuckets"/>.</summary>
    public static bool IsDigestSize(int buckets) => buckets == 0 || (buckets <= WireLimits.MaxDigestBuckets && (buckets & (buckets - 1)) == 0);

    private static bool TryReadUpdates(ref WireReader r, WireLimits limits, out MemberUpdate[] updates)
    {
        updates = [];
        if (!r.TryReadArrayHeader("updates", 0, out int count, limits.MaxUpdates, nameof(WireLimits.MaxUpdates))) return false;
        if ((long)count * MinUpdateBytes > r.Remaining) return r.Fail($"{count} updates cannot fit in the {r.Remaining} bytes left");
        if (count == 0) return true;
        updates = new MemberUpdate[count];
        for (int i = 0; i < count; i++)
        {
            if (!TryReadUpdate(ref r, out updates[i])) return false;
        }
        return true;
    }

    private static bool TryReadUpdate(ref WireReader r, out MemberUpdate update)
    {
        update = default;
        if (!r.TryReadArrayHeader("update", UpdateFieldCount, out int fields)
            || !r.TryReadUInt32("update kind", out uint rawKind))
            return false;
        var kind = (UpdateKind)rawKind;
        if (kind is not (UpdateKind.Alive or UpdateKind.Suspect or UpdateKind.Dead)) return r.Fail($"unknown update kind {rawKind}");
        bool alive = kind == UpdateKind.Alive;
        if (!r.TryReadString("update MemberId", allowEmpty: false, out string memberId)
            || !r.TryReadUInt32("update Incarnation", out uint incarnation)
            // Alive is the member speaking for itself, so it may omit From; Suspect and Dead must say who accuses.
            || !r.TryReadString("update From", allowEmpty: alive, out string from))
            return false;

        MemberMeta? meta = null;
        if (r.NextIsNil)
        {
            if (alive) return r.Fail($"Alive update for '{memberId}' carries no meta");
            r.ReadNil();
        }
        else
        {
            if (!alive) return r.Fail($"{kind} update for '{memberId}' carries meta (only Alive may)");
            if (!TryReadMeta(ref r, out meta)) return false;
            if (meta.Id != memberId) return r.Fail($"update meta id '{meta.Id}' differs from member id '{memberId}'");
        }
        if (!r.TrySkip("extra update field", fields - UpdateFieldCount)) return false;
        update = new MemberUpdate(kind, memberId, incarnation, from, meta);
        return true;
    }

    private static bool TryReadMembers(ref WireReader r, WireLimits limits, out MemberRecord[] members)
    {
        members = [];
        if (!r.TryReadArrayHeader("members", 0, out int count, limits.MaxPushPullMembers, nameof(WireLimits.MaxPushPullMembers))) return false;
        if ((long)count * MinMemberBytes > r.Remaining) return r.Fail($"{count} members cannot fit in the {r.Remaining} bytes left");
        if (count == 0) return true;
        members = new MemberRecord[count];
        for (int i = 0; i < count; i++)
        {
            if (!TryReadMember(ref r, out members[i])) return false;
        }
        return true;
    }

    private static bool TryReadMember(ref WireReader r, out MemberRecord member)
    {
        member = default;
        if (!r.TryReadArrayHeader("member", MemberFieldCount, out int fields)
            || !TryReadMeta(ref r, out MemberMeta? meta)
            || !r.TryReadUInt32("member Incarnation", out uint incarnation)
            || !r.TryReadUInt32("member State", out uint rawState))
            return false;
        var state = (MemberState)rawState;
        if (state is not (MemberState.Alive or MemberState.Suspect or MemberState.Dead or MemberState.Left))
            return r.Fail($"invalid member state {rawState} for '{meta.Id}'");
        if (!r.TrySkip("extra member field", fields - MemberFieldCount)) return false;
        member = new MemberRecord(meta, incarnation, state);
        return true;
    }

    private static bool TryReadMeta(ref WireReader r, [NotNullWhen(true)] out MemberMeta? meta)
    {
        meta = null;
        if (!r.TryReadArrayHeader("meta", MetaFieldCount, out int fields)
            || !r.TryReadString("meta Id", allowEmpty: false, out string id)
            || !r.TryReadString("meta GossipAddress", allowEmpty: true, out string gossipAddress)
            || !r.TryReadString("meta GrpcAddress", allowEmpty: true, out string grpcAddress)
            || !r.TryReadString("meta UdpAddress", allowEmpty: true, out string udpAddress)
            || !r.TryReadString("meta Region", allowEmpty: true, out string region)
            || !r.TryReadString("meta Zone", allowEmpty: true, out string zone)
            || !r.TryReadUInt16("meta Weight", out ushort weight)
            || !r.TryReadUInt32("meta Version", out uint version)
            || !r.TrySkip("extra meta field", fields - MetaFieldCount))
            return false;
        meta = new MemberMeta(id, gossipAddress, grpcAddress, udpAddress, region, zone, weight, version);
        return true;
    }

    private static GossipMessage? Fail(ref WireReader r, string error)
    {
        r.Fail(error);
        return null;
    }
}
