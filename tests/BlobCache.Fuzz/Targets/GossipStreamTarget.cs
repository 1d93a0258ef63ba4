using BlobCache.Fuzz.Engine;
using BlobCache.Node.Gossip;
using BlobCache.Protocol.Gossip;
using BlobCache.Protocol.Tests.Gossip;

namespace BlobCache.Fuzz.Targets;

/// <summary>
/// State transfers as the gossip host takes them off a TCP connection: the frame after its length prefix, through
/// <see cref="StateStreamFrame.Open"/> (no keyring) and <see cref="GossipCodec.TryDecodeStream"/>, compressed or not.
/// Never throws, never reports a decoder fault, and whatever it accepts re-encodes to a frame that decodes to the
/// same message.
/// </summary>
public sealed class GossipStreamTarget : FuzzTarget
{
    // Small limits too (chosen by the input's length), so the limit checks are fuzzed as well as the parser.
    private static readonly WireLimits Small = new() { MaxStreamBytes = 4096, MaxUpdates = 8, MaxPushPullMembers = 8 };

    public override string Name => "gossip-stream";

    public override byte[] Generate(Random random)
    {
        var data = new GossipTestData(random.Next());
        GossipMessage message = random.Next(3) == 0 ? data.Message(MessageKind.PushPull, memberCount: random.Next(60)) : GossipInputs.Aimed(random);
        if (message is not PushPull) message = data.Message(MessageKind.PushPull);
        // Compressed frames are mostly refused whole once mutated; plain ones reach every corner of the parser.
        return GossipCodec.EncodeStream(message, compress: random.Next(4) == 0);
    }

    public override object? Run(object prepared)
    {
        byte[] input = (byte[])prepared;
        if (input.Length == 0 || StateStreamFrame.Open(input, null, out _) is not { } frame) return null;
        if (GossipCodec.TryDecodeStream(frame, Limits(input), out GossipMessage? message, out string? error)) return message;
        if (error.StartsWith("decoder fault", StringComparison.Ordinal)) throw Violated(error);
        return null;
    }

    private static WireLimits Limits(byte[] input) => (input.Length & 7) == 0 ? Small : WireLimits.Default;

    public override void Check(byte[] input, object? result)
    {
        if (result is not GossipMessage message) return;
        foreach (bool compress in new[] { false, true })
        {
            byte[] again = GossipCodec.EncodeStream(message, compress);
            if (!GossipCodec.TryDecodeStream(again, WireLimits.Default, out GossipMessage? reread, out string? error))
                throw Violated($"an accepted state transfer re-encodes (compress: {compress}) to a frame that does not decode: {error}");
            if (!GossipCodec.EncodeStream(reread, compress: false).AsSpan().SequenceEqual(GossipCodec.EncodeStream(message, compress: false)))
                throw Violated("an accepted state transfer does not survive a second round trip");
        }
    }

    // A compressed body may be up to MaxCompressionRatio times its frame, and its parse allocates about what a
    // datagram's does per byte (see GossipDecodeTarget).
    public override long AllocationBound(int inputBytes) => 16L * (GossipCodec.MaxCompressionRatio * (long)inputBytes + 1024) + 64 * 1024;

    public override IReadOnlyList<byte[]> Dictionary =>
        [.. GossipInputs.MessagePackTokens, [GossipCodec.StreamMagic, GossipCodec.StreamFormatVersion, 0], [GossipCodec.StreamMagic, GossipCodec.StreamFormatVersion, 1, 0, 0, 0x10, 0]];

    public override int MaxInputBytes => 64 * 1024;
}
