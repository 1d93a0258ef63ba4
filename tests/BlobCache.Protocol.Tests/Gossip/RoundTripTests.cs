using System.Buffers;
using BlobCache.Protocol.Gossip;

namespace BlobCache.Protocol.Tests.Gossip;

public sealed class RoundTripTests
{
    public static TheoryData<MessageKind> Kinds => new(GossipTestData.AllKinds);

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Every_kind_round_trips(MessageKind kind)
    {
        var data = new GossipTestData(seed: (int)kind);
        for (int i = 0; i < 300; i++)
        {
            GossipMessage original = data.Message(kind);
            GossipMessage decoded = Decode(GossipCodec.Encode(original));
            GossipAssert.Equivalent(original, decoded);
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Messages_without_updates_round_trip(MessageKind kind)
    {
        GossipMessage original = new GossipTestData(seed: 7).Message(kind, updateCount: 0);
        GossipMessage decoded = Decode(GossipCodec.Encode(original));
        Assert.Empty(decoded.Updates);
        GossipAssert.Equivalent(original, decoded);
    }

    [Fact]
    public void Many_updates_and_many_members_round_trip()
    {
        var data = new GossipTestData(seed: 11);
        var original = (PushPull)data.Message(MessageKind.PushPull, updateCount: 1000, memberCount: 5000);
        GossipMessage decoded = Decode(GossipCodec.Encode(original));
        Assert.Equal(5000, ((PushPull)decoded).Members.Count);
        GossipAssert.Equivalent(original, decoded);
    }

    [Fact]
    public void Max_length_unicode_strings_round_trip()
    {
        var data = new GossipTestData(seed: 3);
        string id = data.StringOfBytes(WireLimits.MaxStringBytes);
        var original = new Ping
        {
            SourceId = id, Seq = uint.MaxValue, TargetId = "目標-😀", SourceAddress = data.StringOfBytes(WireLimits.MaxStringBytes),
            Updates = [new MemberUpdate(UpdateKind.Alive, id, 9, id, data.Meta(id))],
        };
        var decoded = (Ping)Decode(GossipCodec.Encode(original));
        Assert.Equal(id, decoded.SourceId);
        GossipAssert.Equivalent(original, decoded);
    }

    [Fact]
    public void Suspect_and_dead_updates_travel_without_meta()
    {
        var meta = new MemberMeta("b", "b:1", "", "", "r", "z", 100, 1);
        var original = new BlobCache.Protocol.Gossip.Gossip
        {
            SourceId = "a",
            Updates = [new MemberUpdate(UpdateKind.Suspect, "b", 1, "a", meta), new MemberUpdate(UpdateKind.Dead, "b", 1, "b", meta)],
        };
        GossipMessage decoded = Decode(GossipCodec.Encode(original));
        Assert.All(decoded.Updates, u => Assert.Null(u.Meta));
        Assert.Equal(GossipCodec.Measure(original), GossipCodec.Encode(original).Length);
    }

    [Fact]
    public void Buffer_writer_overload_writes_the_same_bytes()
    {
        var data = new GossipTestData(seed: 5);
        var output = new ArrayBufferWriter<byte>(1);
        for (int i = 0; i < 200; i++)
        {
            GossipMessage message = data.Message();
            output.ResetWrittenCount();
            GossipCodec.Encode(message, output);
            Assert.Equal(GossipCodec.Encode(message), output.WrittenSpan.ToArray());
        }
    }

    [Fact]
    public void Packet_starts_with_magic_and_version()
    {
        byte[] packet = GossipCodec.Encode(new Ack { SourceId = "a", Seq = 1 });
        Assert.Equal([GossipCodec.Magic, GossipCodec.FormatVersion], packet[..GossipCodec.PreambleBytes]);
        // [3, "a", 1, []] as MessagePack: fixarray(4), 3, fixstr(1) 'a', 1, fixarray(0).
        Assert.Equal(new byte[] { 0x94, 0x03, 0xA1, (byte)'a', 0x01, 0x90 }, packet[GossipCodec.PreambleBytes..]);
    }

    internal static GossipMessage Decode(byte[] packet)
    {
        bool ok = GossipCodec.TryDecode(packet, WireLimits.Default, out GossipMessage? message, out string? error);
        Assert.True(ok, error);
        return message!;
    }
}
