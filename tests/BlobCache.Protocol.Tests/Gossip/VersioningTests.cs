using BlobCache.Protocol.Gossip;

namespace BlobCache.Protocol.Tests.Gossip;

public sealed class VersioningTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(255)]
    public void Other_format_versions_are_rejected_by_number(byte version)
    {
        byte[] packet = GossipCodec.Encode(new Ack { SourceId = "a", Seq = 1 });
        packet[1] = version;
        RejectionTests.AssertRejected(packet, WireLimits.Default, $"unsupported format version {version}");
    }

    [Fact]
    public void Extra_trailing_fields_in_the_message_are_ignored()
    {
        // A later minor version appends two fields of its own to a Ping: [1, src, seq, target, addr, updates, "x", {1: [nil]}].
        byte[] packet = new RawPacket().Array(8).UInt(1).Str("src").UInt(42).Str("target").Str("src:7946")
            .Array(1).Update(2, "m", "src", null)
            .Str("future").Map(1).UInt(1).Array(1).Nil()
            .ToArray();
        var ping = (Ping)RoundTripTests.Decode(packet);
        Assert.Equal(("src", 42u, "target", "src:7946"), (ping.SourceId, ping.Seq, ping.TargetId, ping.SourceAddress));
        Assert.Equal([new MemberUpdate(UpdateKind.Suspect, "m", 3, "src", null)], ping.Updates);
    }

    [Fact]
    public void Extra_trailing_fields_in_meta_updates_and_members_are_ignored()
    {
        byte[] packet = new RawPacket().Array(7).UInt(6).Str("src").Str("src:1").Bool(true).Bool(false)
            .Array(1).Array(4).Meta("m1", extraFields: 3).UInt(9).UInt(2).Str("member extra")
            .Array(1).Array(5).UInt(1).Str("m2").UInt(3).Str("m2").Meta("m2", extraFields: 1)
            .ToArray();
        var pushPull = (PushPull)RoundTripTests.Decode(packet);
        var expectedMeta = new MemberMeta("m1", "host:1", "host:2", "host:3", "region", "zone", 100, 7);
        Assert.Equal([new MemberRecord(expectedMeta, 9, MemberState.Suspect)], pushPull.Members);
        Assert.Equal("m2", Assert.Single(pushPull.Updates).Meta!.Id);
        Assert.True(pushPull.Join);

        byte[] update = RawPacket.Gossip().Array(1).Update(3, "m", "x", null, extraFields: 2).ToArray();
        Assert.Equal(UpdateKind.Dead, Assert.Single(RoundTripTests.Decode(update).Updates).Kind);
    }

    [Fact]
    public void Deeply_nested_extra_fields_are_skipped_without_recursion()
    {
        const int depth = 50_000;
        var packet = RawPacket.Gossip(fields: 4).Array(0);
        for (int i = 0; i < depth; i++) packet.Array(1);
        packet.Nil();
        Assert.Equal("src", RoundTripTests.Decode(packet.ToArray()).SourceId);
    }

    [Fact]
    public void Non_minimal_integer_encodings_are_accepted()
    {
        // Other writers may not pick the smallest encoding: uint64 and signed int forms of small values decode the same.
        byte[] packet = new RawPacket().Array(4).Raw(0xCF, 0, 0, 0, 0, 0, 0, 0, 3).Str("a").Raw(0xD2, 0, 0, 0, 7).Array(0).ToArray();
        var ack = (Ack)RoundTripTests.Decode(packet);
        Assert.Equal(7u, ack.Seq);
    }
}
