using BlobCache.Fuzz.Engine;
using BlobCache.Node.Origin;
using BlobCache.Node.Peers;

namespace BlobCache.Fuzz.Targets;

/// <summary>
/// What a peer sends for a passed-through read: its key (<see cref="PassThroughKey.TryParse"/>, on the owner) and its
/// answer (<see cref="PeerPassThrough.TryDecode"/>, on the asker). Never throws; an accepted key or answer re-encodes
/// to exactly its bytes, so one message has one meaning.
/// </summary>
public sealed class PeerPassThroughTarget : FuzzTarget
{
    public override string Name => "peer-passthrough";

    public override byte[] Generate(Random random)
    {
        if (random.Next(2) == 0)
        {
            var read = new PassThroughRead((PassThroughKind)random.Next(6), Maybe(random), Maybe(random), Maybe(random), Maybe(random), Maybe(random),
                random.Next(2) == 0 ? null : random.Next(1, 5001), random.Next(2) == 0 ? null : ["metadata", UdpFramesTarget.Text(random, 8)]);
            return [0, .. System.Text.Encoding.UTF8.GetBytes(PassThroughKey.Of(read).Text)];
        }
        PassThroughResult result = random.Next(3) == 0
            ? new PassThroughResult(null, 404, UdpFramesTarget.Text(random, 20), UdpFramesTarget.Text(random, 80))
            : new PassThroughResult(new PassThroughAnswer([.. Enumerable.Range(0, random.Next(4)).Select(_ => KeyValuePair.Create("h" + UdpFramesTarget.Text(random, 10), UdpFramesTarget.Text(random, 40)))],
                Enumerable.Range(0, random.Next(200)).Select(_ => (byte)random.Next(256)).ToArray()));
        return [1, .. PeerPassThrough.Encode(result, TimeSpan.FromMilliseconds(random.Next(10_000)))!];
    }

    private static string? Maybe(Random random) => random.Next(2) == 0 ? null : UdpFramesTarget.Text(random, 30);

    public override object? Run(object prepared)
    {
        byte[] input = (byte[])prepared;
        if (input.Length == 0) return null;
        if (input[0] == 0)
        {
            string text;
            try
            {
                text = new System.Text.UTF8Encoding(false, true).GetString(input, 1, input.Length - 1);
            }
            catch (System.Text.DecoderFallbackException)
            {
                return null;
            }
            return PassThroughKey.TryParse(text, out _) is { } read ? (text, read) : null;
        }
        return PeerPassThrough.TryDecode(input.AsSpan(1), out PassThroughResult? result, out TimeSpan age) is null ? (result!, age) : null;
    }

    public override void Check(byte[] input, object? result)
    {
        switch (result)
        {
            case (string text, PassThroughRead read):
                if (PassThroughKey.Of(read).Text != text) throw Violated("a key parsed but does not re-encode to its text");
                break;
            case (PassThroughResult r, TimeSpan age):
                byte[]? again = PeerPassThrough.Encode(r, age);
                if (again is null || !again.AsSpan().SequenceEqual(input.AsSpan(1))) throw Violated("an answer decoded but does not re-encode to its bytes");
                break;
        }
    }

    public override IReadOnlyList<byte[]> Dictionary => [[0], [1], [2], "&="u8.ToArray(), "%"u8.ToArray(), "%2"u8.ToArray(), [0xFF, 0xFF], [0x94, 0x01], [0xC0, 0x80]];

    // The answer's body and strings, a few times over for UTF-16 and the objects.
    public override long AllocationBound(int inputBytes) => 64 * 1024 + 24L * inputBytes;

    public override int MaxInputBytes => 64 * 1024;
}
