using System.Buffers;
using BlobCache.Protocol.Gossip;

namespace BlobCache.Protocol.Tests.Gossip;

public sealed class EncoderValidationTests
{
    private static readonly MemberMeta MetaOfM = new("m", "m:1", "", "", "r", "z", 100, 1);

    public static TheoryData<string, GossipMessage, string> Invalid => new()
    {
        { "empty source", new Ack { SourceId = "", Seq = 1 }, "SourceId is empty" },
        { "null source", new Ack { SourceId = null!, Seq = 1 }, "SourceId is null" },
        { "source over 255 bytes", new Ack { SourceId = new string('€', 86), Seq = 1 }, "258 UTF-8 bytes; the limit is 255" },
        { "lone surrogate", new Ack { SourceId = "a\uD800b", Seq = 1 }, "lone surrogate" },
        { "empty target", new Ping { SourceId = "a", Seq = 1, TargetId = "", SourceAddress = "a:1" }, "TargetId is empty" },
        { "address over 255 bytes", new IndirectPing { SourceId = "a", Seq = 1, TargetId = "t", TargetAddress = new string('x', 256), SourceAddress = "" }, "TargetAddress is 256 UTF-8 bytes" },
        { "alive without meta", Gossip(new MemberUpdate(UpdateKind.Alive, "m", 1, "m", null)), "has no meta" },
        { "meta id differs", Gossip(new MemberUpdate(UpdateKind.Alive, "x", 1, "x", MetaOfM)), "differs from member id" },
        { "empty member id", Gossip(new MemberUpdate(UpdateKind.Suspect, "", 1, "a", null)), "Updates[0].MemberId is empty" },
        { "suspect without accuser", Gossip(new MemberUpdate(UpdateKind.Suspect, "m", 1, "", null)), "Updates[0].From is empty" },
        { "unknown update kind", Gossip(new MemberUpdate((UpdateKind)9, "m", 1, "a", null)), "unknown kind 9" },
        { "empty meta id", Gossip(new MemberUpdate(UpdateKind.Alive, "m", 1, "", MetaOfM with { Id = "" })), "Updates[0].Meta.Id is empty" },
        { "meta zone over 255 bytes", Gossip(new MemberUpdate(UpdateKind.Alive, "m", 1, "m", MetaOfM with { Zone = new string('z', 300) })), "Updates[0].Meta.Zone is 300" },
        { "push-pull state None", PushPull(new MemberRecord(MetaOfM, 1, MemberState.None)), "not sent on the wire" },
        { "push-pull member without meta", PushPull(default), "Members[0] has no meta" },
        { "push-pull member with empty id", PushPull(new MemberRecord(MetaOfM with { Id = "" }, 1, MemberState.Alive)), "Members[0].Meta.Id is empty" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Encode_refuses_what_the_decoder_would_reject(string name, GossipMessage message, string reason)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => GossipCodec.Encode(message));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);

        var output = new ArrayBufferWriter<byte>();
        Assert.ThrowsAny<ArgumentException>(() => GossipCodec.Encode(message, output));
        Assert.True(output.WrittenCount == 0, $"{name}: nothing is written before validation fails");
    }

    [Fact]
    public void Alive_update_may_have_an_empty_From()
    {
        GossipMessage message = Gossip(new MemberUpdate(UpdateKind.Alive, "m", 1, "", MetaOfM));
        Assert.Equal("", Assert.Single(RoundTripTests.Decode(GossipCodec.Encode(message)).Updates).From);
    }

    private static BlobCache.Protocol.Gossip.Gossip Gossip(MemberUpdate update) => new() { SourceId = "a", Updates = [update] };

    private static PushPull PushPull(MemberRecord member) => new() { SourceId = "a", SourceAddress = "a:1", Members = [member] };
}
