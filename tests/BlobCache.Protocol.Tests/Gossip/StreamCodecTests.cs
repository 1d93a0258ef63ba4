using System.Buffers.Binary;
using System.IO.Compression;
using BlobCache.Protocol.Gossip;
using Xunit.Abstractions;

namespace BlobCache.Protocol.Tests.Gossip;

/// <summary>The stream form of state transfers: compact, compressed when it pays, and as strict as the datagram decoder.</summary>
public sealed class StreamCodecTests(ITestOutputHelper output)
{
    [Fact]
    public void Random_push_pulls_round_trip_through_the_stream_codec_compressed_or_not()
    {
        var data = new GossipTestData(seed: 41);
        for (int i = 0; i < 100; i++)
        {
            var original = (PushPull)data.Message(MessageKind.PushPull, memberCount: i % 5 == 0 ? 200 : null);
            foreach (bool compress in new[] { true, false })
            {
                byte[] frame = GossipCodec.EncodeStream(original, compress);
                Assert.True(GossipCodec.TryDecodeStream(frame, WireLimits.Default, out GossipMessage? decoded, out string? error), error);
                GossipAssert.Equivalent(original, decoded);
            }
        }
    }

    [Theory]
    [InlineData("10.244.3.17:7946")]
    [InlineData("node-0.blobcache.ns.svc.cluster.local:7946")]
    [InlineData("")]
    [InlineData("no-port")]
    [InlineData("host:")]
    [InlineData("host:0")]
    [InlineData("host:07946")]
    [InlineData("host:65535")]
    [InlineData("host:65536")]
    [InlineData("host:-1")]
    [InlineData("::1")]
    [InlineData("[::1]:7946")]
    [InlineData(":7946")]
    [InlineData("a:b:c:12")]
    public void Every_address_survives_being_split_into_host_and_port(string address)
    {
        var meta = new MemberMeta("m", address, address, "", "r", "z", 100, 1);
        var original = new PushPull { SourceId = "s", SourceAddress = address, Members = [new MemberRecord(meta, 3, MemberState.Alive)] };
        Assert.True(GossipCodec.TryDecodeStream(GossipCodec.EncodeStream(original), WireLimits.Default, out GossipMessage? decoded, out string? error), error);
        GossipAssert.Equivalent(original, decoded);
    }

    /// <summary>What issue 21 measured: about 65 bytes a member with short ids and 108 with pod names, in one datagram.</summary>
    [Theory]
    [InlineData(false, 32)]
    [InlineData(false, 5_000)]
    [InlineData(true, 32)]
    [InlineData(true, 5_000)]
    public void A_view_by_stream_is_a_fraction_of_its_datagram_encoding(bool podNames, int members)
    {
        var pushPull = new PushPull { SourceId = "m-0", SourceAddress = "10.0.0.1:7946", IsReply = true, Members = View(members, podNames) };
        int datagram = GossipCodec.Encode(pushPull).Length;
        int plain = GossipCodec.EncodeStream(pushPull, compress: false).Length;
        byte[] frame = GossipCodec.EncodeStream(pushPull);
        output.WriteLine($"{members} members, {(podNames ? "pod names" : "short ids")}: datagram codec {datagram:N0} B ({datagram / (double)members:F1}/member), " +
            $"stream {plain:N0} B ({plain / (double)members:F1}/member), compressed {frame.Length:N0} B ({frame.Length / (double)members:F1}/member)");
        Assert.True(plain < datagram * 3 / 4, $"interning saved too little: {plain} of {datagram}");
        Assert.True(frame.Length < datagram / 2, $"compression saved too little: {frame.Length} of {datagram}");
        Assert.True(GossipCodec.TryDecodeStream(frame, WireLimits.Default, out GossipMessage? decoded, out string? error), error);
        Assert.Equal(members, ((PushPull)decoded).Members.Count);
    }

    /// <summary>A view as a Kubernetes fleet gives it: pod names and pod IPs, three ports on one host, a few zones.</summary>
    internal static MemberRecord[] View(int members, bool podNames)
    {
        var random = new Random(members);
        var view = new MemberRecord[members];
        for (int i = 0; i < members; i++)
        {
            string id = podNames ? $"trainer-{random.Next(0x1000000):x6}{random.Next(0x10000):x4}-{Suffix(random)}" : $"m-{i}";
            string host = $"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}";
            view[i] = new MemberRecord(new MemberMeta(id, host + ":7946", host + ":7481", host + ":7482", "westeurope", $"westeurope-{1 + i % 3}", 100, 1),
                (uint)random.Next(4), MemberState.Alive);
        }
        return view;
    }

    private static string Suffix(Random random) => string.Concat(Enumerable.Range(0, 5).Select(_ => "bcdfghjklmnpqrstvwxz2456789"[random.Next(27)]));

    [Fact]
    public void Small_state_is_sent_plain_because_compressing_it_does_not_pay()
    {
        var pushPull = new PushPull { SourceId = "a", SourceAddress = "a:1", Members = View(2, podNames: false) };
        byte[] frame = GossipCodec.EncodeStream(pushPull);
        Assert.Equal(0, frame[2]);
    }

    public static TheoryData<string, byte[], string> Malformed => new()
    {
        { "empty", [], "too short" },
        { "magic", [0xBC, 1, 0, 0x90], "bad stream magic" },
        { "version", [GossipCodec.StreamMagic, 2, 0, 0x90], "unsupported stream format version 2" },
        { "flags", [GossipCodec.StreamMagic, 1, 4, 0x90], "unknown stream flags" },
        { "no body length", [GossipCodec.StreamMagic, 1, 1, 0], "no body length" },
        { "not a push-pull", Plain(RawPacket.Bare().Array(9).UInt(1).Nil().Nil().Nil().Nil().Nil().Nil().Nil().Nil()), "does not travel by stream" },
        { "too few fields", Plain(RawPacket.Bare().Array(3).UInt(6)), "needs at least 9" },
        { "string index", Plain(Tail(Body().Array(1).Str("r").Array(1).Member(host: 1))), "string 1 is not in the table of 1" },
        { "port", Plain(Tail(Body().Array(1).Str("r").Array(1).Member(port: 70_000))), "port 70000 is out of range" },
        { "state", Plain(Tail(Body().Array(1).Str("r").Array(1).Member(state: 0))), "invalid member state 0" },
        { "long address", Plain(Tail(Body().Array(1).Str(new string('h', 252)).Array(1).Member(port: 7946))), "address exceeds the limit of 255" },
        { "member count", Plain(Body().Array(0).Raw(0xDC, 0x01, 0x00)), "256 elements cannot fit" },
        { "digest", Plain(Body().Array(0).Array(0).Array(0).Raw(0xC4, 12).Raw(new byte[12])), "not a power of two" },
        { "trailing", Plain(Body().Array(0).Array(0).Array(0).Raw(0xC4, 0).Raw(0xC0)), "trailing bytes" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_frames_are_rejected_with_a_reason(string name, byte[] frame, string reason)
    {
        Assert.False(GossipCodec.TryDecodeStream(frame, WireLimits.Default, out GossipMessage? message, out string? error), name);
        Assert.Null(message);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Limits_are_checked_before_anything_is_allocated_for_them()
    {
        var pushPull = new PushPull { SourceId = "s", SourceAddress = "s:1", Members = View(3_000, podNames: true) };
        byte[] frame = GossipCodec.EncodeStream(pushPull);
        Assert.Equal(1, frame[2]);
        int body = (int)BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(3));

        AssertRejected(frame, new WireLimits { MaxStreamBytes = frame.Length - 1 }, "exceeds MaxStreamBytes");
        AssertRejected(frame, new WireLimits { MaxStreamBytes = body - 1 }, $"stream body of {body} bytes exceeds MaxStreamBytes");
        AssertRejected(frame, new WireLimits { MaxPushPullMembers = 2_999 }, "3000 members exceed MaxPushPullMembers (2999)");
    }

    [Fact]
    public void A_compressed_body_that_is_not_what_it_declares_is_rejected()
    {
        byte[] frame = GossipCodec.EncodeStream(new PushPull { SourceId = "s", SourceAddress = "s:1", Members = View(500, podNames: true) });
        int body = (int)BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(3));

        byte[] shorter = (byte[])frame.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(shorter.AsSpan(3), (uint)body - 1);
        AssertRejected(shorter, WireLimits.Default, "longer than the declared");

        byte[] longer = (byte[])frame.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(longer.AsSpan(3), (uint)body + 1);
        AssertRejected(longer, WireLimits.Default, $"is {body} bytes, declared {body + 1}");

        AssertRejected(frame[..^10], WireLimits.Default, "truncated");
        AssertRejected([.. frame, 0], WireLimits.Default, "after the compressed stream body");
        byte[] noise = [.. frame[..7], .. Enumerable.Repeat((byte)0xFF, 1024)];
        AssertRejected(noise, WireLimits.Default, "not valid Brotli");
    }

    [Fact]
    public void A_small_frame_that_declares_a_huge_body_is_refused_as_a_bomb_before_inflating()
    {
        byte[] zeros = new byte[8 << 20];
        byte[] packed = new byte[BrotliEncoder.GetMaxCompressedLength(zeros.Length)];
        Assert.True(BrotliEncoder.TryCompress(zeros, packed, out int written));
        byte[] frame = [GossipCodec.StreamMagic, 1, 1, 0, 0, 0, 0, .. packed.AsSpan(0, written)];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(3), (uint)zeros.Length);

        long before = GC.GetAllocatedBytesForCurrentThread();
        AssertRejected(frame, WireLimits.Default, "refused as a bomb");
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64 * 1024, "the declared body was allocated before it was refused");
    }

    [Fact]
    public void Only_state_travels_by_stream()
    {
        var ping = new Ping { SourceId = "a", Seq = 1, TargetId = "b", SourceAddress = "a:1" };
        Assert.Throws<ArgumentException>(() => GossipCodec.EncodeStream(ping));
    }

    private static void AssertRejected(byte[] frame, WireLimits limits, string reason)
    {
        Assert.False(GossipCodec.TryDecodeStream(frame, limits, out GossipMessage? message, out string? error));
        Assert.Null(message);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    /// <summary>A push-pull body up to (not including) its string table.</summary>
    private static RawPacket Body() => RawPacket.Bare().Array(9).UInt(6).Str("src").Str("src:1").Bool(false).Bool(true);

    /// <summary>No updates, no digest: what follows the members.</summary>
    private static RawPacket Tail(RawPacket body) => body.Array(0).Raw(0xC4, 0);

    private static byte[] Plain(RawPacket body) => [GossipCodec.StreamMagic, GossipCodec.StreamFormatVersion, 0, .. body.ToArray()];
}
