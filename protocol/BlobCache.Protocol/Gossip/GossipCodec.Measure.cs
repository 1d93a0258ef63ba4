using System.Text;

namespace BlobCache.Protocol.Gossip;

// Exact encoded sizes, computed without encoding: MessagePack header sizes plus UTF-8 byte counts.
// Hot path (packet filling), so no allocation here.
public static partial class GossipCodec
{
    /// <summary>The largest MessagePack array header (array32). Reserve this much when the update count is not yet known.</summary>
    public const int UpdatesArrayHeaderMaxBytes = 5;

    /// <summary>Exact number of bytes <see cref="Encode(GossipMessage)"/> writes for <paramref name="message"/>.</summary>
    /// <remarks>Equals <c>MeasureWithoutUpdates(m) - MeasureArrayHeader(0) + MeasureArrayHeader(n) + Σ MeasureUpdate(u)</c>.</remarks>
    public static int Measure(GossipMessage message)
    {
        IReadOnlyList<MemberUpdate> updates = message.Updates;
        int size = MeasureBody(message) + MeasureArrayHeader(updates.Count);
        for (int i = 0; i < updates.Count; i++) size += MeasureUpdate(updates[i]);
        return size;
    }

    /// <summary>Bytes of a bin header and payload of <paramref name="bytes"/> bytes (bin8, bin16, bin32).</summary>
    private static int MeasureBinary(int bytes) => bytes switch
    {
        <= byte.MaxValue => 2,
        <= ushort.MaxValue => 3,
        _ => 5,
    } + bytes;

    /// <summary>Bytes of <paramref name="message"/> if its updates list were empty (a one-byte empty array).</summary>
    public static int MeasureWithoutUpdates(GossipMessage message) => MeasureBody(message) + MeasureArrayHeader(0);

    /// <summary>Exact bytes one update adds to a message (not counting the updates array header).</summary>
    public static int MeasureUpdate(in MemberUpdate update) =>
        1 // fixarray of 5
        + MeasureUInt((uint)update.Kind)
        + MeasureString(update.MemberId)
        + MeasureUInt(update.Incarnation)
        + MeasureString(update.From)
        + (update.Kind == UpdateKind.Alive && update.Meta is { } meta ? MeasureMeta(meta) : 1);

    /// <summary>Size of a MessagePack array header for <paramref name="count"/> elements (fixarray, array16, array32).</summary>
    public static int MeasureArrayHeader(int count) => count switch
    {
        <= 15 => 1,
        <= ushort.MaxValue => 3,
        _ => 5,
    };

    /// <summary>Everything but the updates array: preamble, top-level header, kind, source and kind-specific fields.</summary>
    private static int MeasureBody(GossipMessage message)
    {
        int size = PreambleBytes + MeasureArrayHeader(FieldCount(message.Kind)) + MeasureUInt((uint)message.Kind) + MeasureString(message.SourceId);
        switch (message)
        {
            case Ping p:
                size += MeasureUInt(p.Seq) + MeasureString(p.TargetId) + MeasureString(p.SourceAddress);
                break;
            case IndirectPing ip:
                size += MeasureUInt(ip.Seq) + MeasureString(ip.TargetId) + MeasureString(ip.TargetAddress) + MeasureString(ip.SourceAddress) + 1;
                break;
            case Ack a:
                size += MeasureUInt(a.Seq);
                break;
            case Nack n:
                size += MeasureUInt(n.Seq);
                break;
            case PushPull pp:
                size += MeasureString(pp.SourceAddress) + 1 + 1 + MeasureArrayHeader(pp.Members.Count);
                for (int i = 0; i < pp.Members.Count; i++) size += MeasureMember(pp.Members[i]);
                size += MeasureBinary(pp.Digest.Length * sizeof(uint)); // after the updates on the wire; the sum is the same
                break;
        }
        return size;
    }

    /// <summary>Exact bytes one member record adds to a push-pull (not counting the members array header).</summary>
    public static int MeasureMember(in MemberRecord member) =>
        1 + (member.Meta is { } meta ? MeasureMeta(meta) : 1) + MeasureUInt(member.Incarnation) + MeasureUInt((uint)member.State);

    private static int MeasureMeta(MemberMeta meta) =>
        1
        + MeasureString(meta.Id)
        + MeasureString(meta.GossipAddress)
        + MeasureString(meta.GrpcAddress)
        + MeasureString(meta.UdpAddress)
        + MeasureString(meta.Region)
        + MeasureString(meta.Zone)
        + MeasureUInt(meta.Weight)
        + MeasureUInt(meta.Version);

    /// <summary>positive fixint, uint8, uint16, uint32: the encodings MessagePackWriter picks for unsigned values.</summary>
    private static int MeasureUInt(uint value) => value switch
    {
        <= 0x7F => 1,
        <= byte.MaxValue => 2,
        <= ushort.MaxValue => 3,
        _ => 5,
    };

    /// <summary>fixstr, str8, str16, str32 header plus the UTF-8 bytes.</summary>
    private static int MeasureString(string value)
    {
        int bytes = Encoding.UTF8.GetByteCount(value);
        int header = bytes switch
        {
            <= 31 => 1,
            <= byte.MaxValue => 2,
            <= ushort.MaxValue => 3,
            _ => 5,
        };
        return header + bytes;
    }
}
