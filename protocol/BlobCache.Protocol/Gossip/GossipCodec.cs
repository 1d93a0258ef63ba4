using System.Buffers;
using System.Text;
using MessagePack;

namespace BlobCache.Protocol.Gossip;

/// <summary>
/// Versioned, size-limited wire codec for gossip messages, written with MessagePack primitives (no reflection).
/// </summary>
/// <remarks>
/// Wire layout, format version 1. A packet is two raw bytes <c>[0xBC, 0x01]</c> (magic, format version)
/// followed by one MessagePack array whose first two elements are the kind and the sender's id, and whose
/// last v1 element is the updates array (a push-pull appends its digest after it, which a reader of the first
/// push-pull layout skips, and which a sender of that layout leaves out):
/// <code>
/// Ping         [1, sourceId, seq, targetId, sourceAddress, updates]
/// IndirectPing [2, sourceId, seq, targetId, targetAddress, sourceAddress, wantNack, updates]
/// Ack          [3, sourceId, seq, updates]
/// Nack         [4, sourceId, seq, updates]
/// Gossip       [5, sourceId, updates]
/// PushPull     [6, sourceId, sourceAddress, join, isReply, members, updates, digest]
///
/// update       [kind, memberId, incarnation, from, meta | nil]   (meta on Alive only; nil on Suspect/Dead)
/// member       [meta, incarnation, state]
/// meta         [id, gossipAddress, grpcAddress, udpAddress, region, zone, weight, version]
/// digest       bin: 4 bytes big-endian per bucket
/// </code>
/// Integers use the smallest MessagePack encoding, strings are UTF-8 of at most
/// <see cref="WireLimits.MaxStringBytes"/> bytes. Forward compatibility: a later minor version may append
/// elements to any of these arrays; a v1 reader skips them. An incompatible change bumps <see cref="FormatVersion"/>.
/// </remarks>
public static partial class GossipCodec
{
    public const byte Magic = 0xBC;
    public const byte FormatVersion = 1;
    public const int PreambleBytes = 2;

    /// <summary>Writes <paramref name="message"/> to <paramref name="output"/>; throws <see cref="ArgumentException"/> if a decoder would reject it.</summary>
    public static void Encode(GossipMessage message, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        Validate(message);
        var writer = new MessagePackWriter(output);
        WriteMessage(ref writer, message);
        writer.Flush();
    }

    /// <summary>Encodes into an array of exactly <see cref="Measure"/> bytes.</summary>
    public static byte[] Encode(GossipMessage message)
    {
        Validate(message);
        var output = new FixedBufferWriter(new byte[Measure(message)]);
        var writer = new MessagePackWriter(output);
        WriteMessage(ref writer, message);
        writer.Flush();
        return output.WrittenArray();
    }

    private static void WriteMessage(ref MessagePackWriter writer, GossipMessage message)
    {
        Span<byte> preamble = writer.GetSpan(PreambleBytes);
        preamble[0] = Magic;
        preamble[1] = FormatVersion;
        writer.Advance(PreambleBytes);

        writer.WriteArrayHeader(FieldCount(message.Kind));
        writer.Write((uint)message.Kind);
        WriteString(ref writer, message.SourceId);
        switch (message)
        {
            case Ping p:
                writer.Write(p.Seq);
                WriteString(ref writer, p.TargetId);
                WriteString(ref writer, p.SourceAddress);
                break;
            case IndirectPing ip:
                writer.Write(ip.Seq);
                WriteString(ref writer, ip.TargetId);
                WriteString(ref writer, ip.TargetAddress);
                WriteString(ref writer, ip.SourceAddress);
                writer.Write(ip.WantNack);
                break;
            case Ack a:
                writer.Write(a.Seq);
                break;
            case Nack n:
                writer.Write(n.Seq);
                break;
            case PushPull pp:
                WriteString(ref writer, pp.SourceAddress);
                writer.Write(pp.Join);
                writer.Write(pp.IsReply);
                writer.WriteArrayHeader(pp.Members.Count);
                for (int i = 0; i < pp.Members.Count; i++) WriteMember(ref writer, pp.Members[i]);
                break;
        }

        WriteUpdates(ref writer, message.Updates);
        if (message is PushPull withDigest) WriteDigest(ref writer, withDigest.Digest);
    }

    private static void WriteUpdates(ref MessagePackWriter writer, IReadOnlyList<MemberUpdate> updates)
    {
        writer.WriteArrayHeader(updates.Count);
        for (int i = 0; i < updates.Count; i++) WriteUpdate(ref writer, updates[i]);
    }

    private static void WriteDigest(ref MessagePackWriter writer, uint[] digest)
    {
        int bytes = digest.Length * sizeof(uint);
        writer.WriteBinHeader(bytes);
        if (bytes == 0) return;
        Span<byte> span = writer.GetSpan(bytes);
        for (int i = 0; i < digest.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(span[(i * sizeof(uint))..], digest[i]);
        writer.Advance(bytes);
    }

    /// <summary>Top-level array length per kind in format version 1 (kind and source id included).</summary>
    private static int FieldCount(MessageKind kind) => kind switch
    {
        MessageKind.Ping => 6,
        MessageKind.IndirectPing => 8,
        MessageKind.Ack or MessageKind.Nack => 4,
        MessageKind.Gossip => 3,
        MessageKind.PushPull => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown message kind"),
    };

    /// <summary>Fields a reader needs: a push-pull of the first layout has no digest.</summary>
    private static int RequiredFieldCount(MessageKind kind) => kind == MessageKind.PushPull ? 7 : FieldCount(kind);

    private const int UpdateFieldCount = 5;
    private const int MemberFieldCount = 3;
    private const int MetaFieldCount = 8;

    private static void WriteUpdate(ref MessagePackWriter writer, in MemberUpdate update)
    {
        writer.WriteArrayHeader(UpdateFieldCount);
        writer.Write((uint)update.Kind);
        WriteString(ref writer, update.MemberId);
        writer.Write(update.Incarnation);
        WriteString(ref writer, update.From);
        if (update.Kind == UpdateKind.Alive) WriteMeta(ref writer, update.Meta!);
        else writer.WriteNil();
    }

    private static void WriteMember(ref MessagePackWriter writer, in MemberRecord member)
    {
        writer.WriteArrayHeader(MemberFieldCount);
        WriteMeta(ref writer, member.Meta);
        writer.Write(member.Incarnation);
        writer.Write((uint)member.State);
    }

    private static void WriteMeta(ref MessagePackWriter writer, MemberMeta meta)
    {
        writer.WriteArrayHeader(MetaFieldCount);
        WriteString(ref writer, meta.Id);
        WriteString(ref writer, meta.GossipAddress);
        WriteString(ref writer, meta.GrpcAddress);
        WriteString(ref writer, meta.UdpAddress);
        WriteString(ref writer, meta.Region);
        WriteString(ref writer, meta.Zone);
        writer.Write(meta.Weight);
        writer.Write(meta.Version);
    }

    // Encodes straight into the output span: no intermediate byte[] per string.
    private static void WriteString(ref MessagePackWriter writer, string value)
    {
        int byteCount = Encoding.UTF8.GetByteCount(value);
        writer.WriteStringHeader(byteCount);
        if (byteCount == 0) return;
        Span<byte> span = writer.GetSpan(byteCount);
        Encoding.UTF8.GetBytes(value, span);
        writer.Advance(byteCount);
    }
}
