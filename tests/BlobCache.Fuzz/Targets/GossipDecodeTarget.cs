using BlobCache.Fuzz.Engine;
using BlobCache.Protocol.Gossip;
using BlobCache.Protocol.Tests.Gossip;

namespace BlobCache.Fuzz.Targets;

/// <summary>
/// Gossip packets (MessagePack) through <see cref="GossipCodec.TryDecode"/>: never throws, never reports a decoder
/// fault, and whatever it accepts re-encodes to bytes that decode to the same message.
/// </summary>
public sealed class GossipDecodeTarget : FuzzTarget
{
    // Small limits too (chosen by the input's length), so the limit checks are fuzzed as well as the parser.
    private static readonly WireLimits Small = new() { MaxPacketBytes = 600, MaxPushPullBytes = 4000, MaxUpdates = 8, MaxPushPullMembers = 8 };

    public override string Name => "gossip-decode";

    public override byte[] Generate(Random random) => GossipCodec.Encode(GossipInputs.Message(random));

    public override object? Run(object prepared)
    {
        byte[] input = (byte[])prepared;
        if (GossipCodec.TryDecode(input, Limits(input), out GossipMessage? message, out string? error)) return message;
        // A decoder fault is an exception the up-front checks missed: as much a bug as one that escapes.
        if (error.StartsWith("decoder fault", StringComparison.Ordinal)) throw Violated(error);
        return null;
    }

    private static WireLimits Limits(byte[] input) => (input.Length & 7) == 0 ? Small : WireLimits.Default;

    public override void Check(byte[] input, object? result)
    {
        if (result is not GossipMessage message) return;
        byte[] again = GossipCodec.Encode(message);
        if (!GossipCodec.TryDecode(again, WireLimits.Default, out GossipMessage? reread, out string? error))
            throw Violated($"an accepted {message.Kind} re-encodes to bytes that do not decode: {error}");
        if (!GossipCodec.Encode(reread).AsSpan().SequenceEqual(again))
            throw Violated($"an accepted {message.Kind} does not survive a second round trip");
    }

    // Structures of ~10 bytes per element: member ids of one or two bytes cost a string object each (about 26 bytes),
    // a MemberMeta about 72 and a MemberUpdate slot 40, so ~12 bytes allocated per input byte is the format's own
    // worst case. Anything a length prefix could inflate would be far beyond this.
    public override long AllocationBound(int inputBytes) => 16L * inputBytes + 16 * 1024;

    public override IReadOnlyList<byte[]> Dictionary => GossipInputs.MessagePackTokens;
}

/// <summary>Random gossip messages: the protocol tests' generator, plus ids, addresses and numbers chosen to hit a node's state machine.</summary>
public static class GossipInputs
{
    public static readonly IReadOnlyList<byte[]> MessagePackTokens =
    [
        [0xC0], [0xC1], [0xC2], [0xC3], [0x90], [0x91], [0x9F], [0x80], [0x81], [0xA0], [0xBF],
        [0xCC, 0xFF], [0xCD, 0xFF, 0xFF], [0xCE, 0xFF, 0xFF, 0xFF, 0xFF], [0xCF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
        [0xD0, 0x80], [0xD3, 0x80, 0, 0, 0, 0, 0, 0, 0], [0xCA, 0, 0, 0, 0], [0xCB, 0, 0, 0, 0, 0, 0, 0, 0],
        [0xD9, 0xFF], [0xDA, 0xFF, 0xFF], [0xDB, 0xFF, 0xFF, 0xFF, 0xFF], [0xDB, 0x7F, 0xFF, 0xFF, 0xFF],
        [0xDC, 0xFF, 0xFF], [0xDD, 0xFF, 0xFF, 0xFF, 0xFF], [0xDD, 0x7F, 0xFF, 0xFF, 0xFF], [0xDE, 0xFF, 0xFF], [0xDF, 0xFF, 0xFF, 0xFF, 0xFF],
        [0xC4, 0xFF], [0xC6, 0x7F, 0xFF, 0xFF, 0xFF], [0xC9, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], [0xD4, 0x01, 0x00], [0xD8, 0x01],
        [0xFF], [0xE0], [0x7F], [0x00],
    ];

    private static readonly string[] Ids = ["self", "n1", "n2", "n3", "n4"];

    public static GossipMessage Message(Random random) =>
        random.Next(3) == 0 ? new GossipTestData(random.Next()).Message() : Aimed(random);

    /// <summary>A message about a small set of ids (one of them the receiving node, "self"), so the receiver's state changes.</summary>
    public static GossipMessage Aimed(Random random)
    {
        MemberUpdate[] updates = [.. Enumerable.Range(0, random.Next(4) == 0 ? random.Next(40) : random.Next(4)).Select(_ => Update(random))];
        uint seq = (uint)random.Next(12);
        return random.Next(6) switch
        {
            0 => new Ping { SourceId = Id(random), Seq = seq, TargetId = random.Next(4) == 0 ? Id(random) : "self", SourceAddress = Address(random), Updates = updates },
            1 => new IndirectPing
            {
                SourceId = Id(random), Seq = seq, TargetId = Id(random), TargetAddress = Address(random), SourceAddress = Address(random),
                WantNack = random.Next(2) == 0, Updates = updates,
            },
            2 => new Ack { SourceId = Id(random), Seq = seq, Updates = updates },
            3 => new Nack { SourceId = Id(random), Seq = seq, Updates = updates },
            4 => new Gossip { SourceId = Id(random), Updates = updates },
            _ => new PushPull
            {
                SourceId = Id(random), SourceAddress = Address(random), Join = random.Next(2) == 0, IsReply = random.Next(2) == 0,
                Members = [.. Enumerable.Range(0, random.Next(8)).Select(_ => new MemberRecord(Meta(random, Id(random)), Incarnation(random), (MemberState)(1 + random.Next(4))))],
                Updates = updates,
            },
        };
    }

    private static MemberUpdate Update(Random random)
    {
        string id = Id(random);
        var kind = (UpdateKind)(1 + random.Next(3));
        return kind == UpdateKind.Alive
            ? new MemberUpdate(kind, id, Incarnation(random), random.Next(2) == 0 ? "" : Id(random), Meta(random, id))
            : new MemberUpdate(kind, id, Incarnation(random), Id(random), null);
    }

    private static MemberMeta Meta(Random random, string id) =>
        new(id, Address(random), Address(random), Address(random), random.Next(4) == 0 ? "r2" : "r1", "z1", (ushort)(random.Next(3) == 0 ? 0 : 100), (uint)random.Next(3));

    private static string Id(Random random) => Ids[random.Next(Ids.Length)];

    private static uint Incarnation(Random random) => random.Next(6) switch
    {
        0 => uint.MaxValue,
        1 => uint.MaxValue - 1,
        2 => (uint)random.Next(),
        _ => (uint)random.Next(4),
    };

    /// <summary>host:port, valid or not: IPv4, IPv6 (bracketed or not), names, empty, ports out of range or not numbers.</summary>
    public static string Address(Random random)
    {
        string host = random.Next(8) switch
        {
            0 => "::1",
            1 => "[::1]",
            2 => "node-" + random.Next(10) + ".mesh.svc",
            3 => "",
            4 => new string('a', 200 + random.Next(40)),
            _ => "127.0.0." + random.Next(256),
        };
        string port = random.Next(8) switch
        {
            0 => "0",
            1 => "-1",
            2 => "65536",
            3 => "99999",
            4 => "x",
            _ => (7000 + random.Next(100)).ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        return random.Next(12) == 0 ? host : host + ":" + port;
    }
}
