using BlobCache.Protocol.Gossip;

namespace BlobCache.Protocol.Tests.Gossip;

public sealed class RejectionTests
{
    private static readonly byte[] InvalidUtf8 = [0xC3, 0x28];

    public static TheoryData<string, byte[], string> Malformed => new()
    {
        { "empty", [], "empty packet" },
        { "magic only", [GossipCodec.Magic], "too short" },
        { "preamble only", [GossipCodec.Magic, GossipCodec.FormatVersion], "too short" },
        { "wrong magic", new RawPacket(magic: 0xBD).Array(3).UInt(5).Str("a").Array(0).ToArray(), "magic" },
        { "top level is a map", new RawPacket().Map(1).UInt(5).Str("a").ToArray(), "expected an array" },
        { "unknown kind", new RawPacket().Array(3).UInt(9).Str("a").Array(0).ToArray(), "unknown message kind 9" },
        { "kind zero", new RawPacket().Array(3).UInt(0).Str("a").Array(0).ToArray(), "unknown message kind 0" },
        { "kind is a string", new RawPacket().Array(3).Str("5").Str("a").Array(0).ToArray(), "expected an integer" },
        { "top array too short", new RawPacket().Array(3).UInt(1).Str("a").UInt(1).ToArray(), "needs at least 6" },
        { "array claims more than the bytes", new RawPacket().Array(15).UInt(5).ToArray(), "cannot fit in the 1 bytes left" },
        { "truncated string", new RawPacket().Array(3).UInt(5).Raw(0xA5, (byte)'a').ToArray(), "past the end" },
        { "source is an int", new RawPacket().Array(3).UInt(5).UInt(1).Array(0).ToArray(), "expected a string" },
        { "empty source", RawPacket.Gossip(source: "").Array(0).ToArray(), "SourceId is empty" },
        { "source over 255 bytes", RawPacket.Gossip(source: new string('s', 256)).Array(0).ToArray(), "exceeds the limit of 255" },
        // str32 header claiming 4 GB: refused on the length alone, before anything is read or allocated.
        { "huge string header", new RawPacket().Array(3).UInt(5).Raw(0xDB, 0xFF, 0xFF, 0xFF, 0xFF).ToArray(), "exceeds the limit of 255" },
        { "invalid UTF-8", new RawPacket().Array(3).UInt(5).Utf8(InvalidUtf8).Array(0).ToArray(), "invalid UTF-8" },
        { "seq is a string", new RawPacket().Array(4).UInt(3).Str("a").Str("1").Array(0).ToArray(), "expected an integer" },
        { "negative seq", new RawPacket().Array(4).UInt(3).Str("a").Int(-1).Array(0).ToArray(), "out of range" },
        { "seq over 32 bits", new RawPacket().Array(4).UInt(3).Str("a").UInt(1UL << 32).Array(0).ToArray(), "out of range" },
        { "empty target id", new RawPacket().Array(6).UInt(1).Str("a").UInt(1).Str("").Str("addr").Array(0).ToArray(), "TargetId is empty" },
        { "want-nack is an int", new RawPacket().Array(8).UInt(2).Str("a").UInt(1).Str("t").Str("ta").Str("sa").UInt(1).Array(0).ToArray(), "expected a boolean" },
        { "updates is nil", RawPacket.Gossip().Nil().ToArray(), "expected an array" },
        { "update array too short", RawPacket.Gossip().Array(1).Array(4).UInt(2).Str("m").UInt(1).Str("a").ToArray(), "needs at least 5" },
        { "unknown update kind", RawPacket.Gossip().Array(1).Update(4, "m", "a", null).ToArray(), "unknown update kind 4" },
        { "update kind zero", RawPacket.Gossip().Array(1).Update(0, "m", "a", null).ToArray(), "unknown update kind 0" },
        { "alive without meta", RawPacket.Gossip().Array(1).Update(1, "m", "m", null).ToArray(), "carries no meta" },
        { "suspect with meta", RawPacket.Gossip().Array(1).Update(2, "m", "a", "m").ToArray(), "carries meta" },
        { "meta id differs", RawPacket.Gossip().Array(1).Update(1, "m", "m", "other").ToArray(), "differs from member id" },
        { "empty member id", RawPacket.Gossip().Array(1).Update(2, "", "a", null).ToArray(), "MemberId is empty" },
        { "suspect without accuser", RawPacket.Gossip().Array(1).Update(2, "m", "", null).ToArray(), "From is empty" },
        { "empty meta id", RawPacket.Gossip().Array(1).Update(1, "m", "m", "").ToArray(), "meta Id is empty" },
        { "meta array too short", RawPacket.Gossip().Array(1).Array(5).UInt(1).Str("m").UInt(1).Str("m").Meta("m", fields: 7).ToArray(), "needs at least 8" },
        { "weight over 16 bits", RawPacket.Gossip().Array(1).Array(5).UInt(1).Str("m").UInt(1).Str("m")
            .Array(8).Str("m").Str("").Str("").Str("").Str("").Str("").UInt(70_000).UInt(1).ToArray(), "Weight: 70000 is out of range" },
        { "update count beyond the bytes", RawPacket.Gossip().Raw(0xDD, 0x00, 0x00, 0x00, 0x14).Raw(new byte[100]).ToArray(), "20 updates cannot fit" },
        { "invalid code 0xC1", RawPacket.Gossip().Raw(0xC1).ToArray(), "0xC1" },
        { "trailing bytes", RawPacket.Gossip().Array(0).Raw(0xC0, 0xC0).ToArray(), "2 trailing bytes" },
        { "push-pull state None", PushPullWithState(0), "invalid member state 0" },
        { "push-pull state out of range", PushPullWithState(5), "invalid member state 5" },
        { "push-pull member without meta", new RawPacket().Array(8).UInt(6).Str("a").Str("addr").Bool(false).Bool(false)
            .Array(1).Array(3).Nil().UInt(1).UInt(1).Array(0).Str(new string('p', 20)).ToArray(), "expected an array, found Nil" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_packets_are_rejected_with_a_reason(string name, byte[] packet, string reason)
    {
        bool ok = GossipCodec.TryDecode(packet, WireLimits.Default, out GossipMessage? message, out string? error);
        Assert.False(ok, name);
        Assert.Null(message);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Too_many_updates_are_rejected_before_allocation()
    {
        GossipMessage message = new GossipTestData(seed: 1).Message(MessageKind.Gossip, updateCount: 4);
        var limits = new WireLimits { MaxUpdates = 3 };
        AssertRejected(GossipCodec.Encode(message), limits, "4 updates exceed MaxUpdates (3)");
        // A header alone claiming a million updates is refused on the count.
        AssertRejected(RawPacket.Gossip().Raw(0xDD, 0x00, 0x0F, 0x42, 0x40).ToArray(), WireLimits.Default, "1000000 updates exceed MaxUpdates");
    }

    [Fact]
    public void Too_many_push_pull_members_are_rejected()
    {
        GossipMessage message = new GossipTestData(seed: 2).Message(MessageKind.PushPull, updateCount: 0, memberCount: 3);
        AssertRejected(GossipCodec.Encode(message), new WireLimits { MaxPushPullMembers = 2 }, "3 members exceed MaxPushPullMembers (2)");
    }

    [Fact]
    public void Datagram_size_limit_applies_to_every_kind_but_push_pull()
    {
        var limits = new WireLimits { MaxPacketBytes = 512, MaxPushPullBytes = 4096 };
        var gossip = new BlobCache.Protocol.Gossip.Gossip { SourceId = "a", Updates = Enumerable.Range(0, 40).Select(i => new MemberUpdate(UpdateKind.Suspect, $"member-{i}", 1, "a", null)).ToArray() };
        byte[] big = GossipCodec.Encode(gossip);
        Assert.InRange(big.Length, 513, 4096);
        AssertRejected(big, limits, "exceeds MaxPacketBytes (512)");

        var pushPull = new PushPull { SourceId = "a", SourceAddress = "a:1", Members = Enumerable.Range(0, 10).Select(Member).ToArray() };
        byte[] stream = GossipCodec.Encode(pushPull);
        Assert.InRange(stream.Length, 513, 4096);
        Assert.True(GossipCodec.TryDecode(stream, limits, out _, out string? error), error);
        AssertRejected(stream, new WireLimits { MaxPacketBytes = 512, MaxPushPullBytes = 512 }, "exceeds the largest allowed size of 512");
        AssertRejected(stream, new WireLimits { MaxPacketBytes = stream.Length, MaxPushPullBytes = stream.Length - 1 }, "exceeds MaxPushPullBytes");
    }

    internal static void AssertRejected(byte[] packet, WireLimits limits, string reason)
    {
        Assert.False(GossipCodec.TryDecode(packet, limits, out GossipMessage? message, out string? error));
        Assert.Null(message);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    private static MemberRecord Member(int i) =>
        new(new MemberMeta($"member-{i}", "10.0.0.1:7946", "10.0.0.1:5000", "10.0.0.1:5001", "westeurope", "westeurope-1", 100, 1), 1, MemberState.Alive);

    private static byte[] PushPullWithState(uint state) =>
        new RawPacket().Array(7).UInt(6).Str("a").Str("addr").Bool(false).Bool(false)
            .Array(1).Array(3).Meta("m").UInt(1).UInt(state).Array(0).ToArray();
}
