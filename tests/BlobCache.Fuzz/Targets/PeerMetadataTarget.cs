using BlobCache.Fuzz.Engine;
using BlobCache.Node.Origin;
using BlobCache.Node.Peers;

namespace BlobCache.Fuzz.Targets;

/// <summary>
/// A metadata owner's answer through <see cref="PeerMetadata.TryDecode"/>, the decoder an asker runs on what a peer
/// says about a blob. Never throws; an accepted answer re-encodes to exactly its bytes, so one answer has one meaning.
/// </summary>
public sealed class PeerMetadataTarget : FuzzTarget
{
    public override string Name => "peer-metadata";

    public override byte[] Generate(Random random)
    {
        var kind = (PeerMetadataKind)random.Next(1, 4);
        BlobInfo? info = null;
        if (kind == PeerMetadataKind.Found)
        {
            Dictionary<string, string>? metadata = random.Next(2) == 0 ? null
                : Enumerable.Range(0, random.Next(1, 6)).ToDictionary(i => $"k{i}{UdpFramesTarget.Text(random, 8)}", _ => UdpFramesTarget.Text(random, 64), StringComparer.OrdinalIgnoreCase);
            var details = new BlobDetails(Maybe(random), Maybe(random), Maybe(random), Maybe(random), metadata,
                random.Next(2) == 0 ? null : new DateTimeOffset(random.NextInt64(DateTimeOffset.UnixEpoch.UtcTicks, DateTimeOffset.MaxValue.UtcTicks), TimeSpan.Zero),
                Maybe(random), random.Next(2) == 0, random.Next(2) == 0);
            byte[]? md5 = random.Next(3) == 0 ? null : new byte[16];
            if (md5 is not null) random.NextBytes(md5);
            info = new BlobInfo(random.NextInt64(0, 1L << 40), "\"0x" + random.NextInt64().ToString("X") + "\"",
                new DateTimeOffset(random.NextInt64(DateTimeOffset.UnixEpoch.UtcTicks, DateTimeOffset.MaxValue.UtcTicks), TimeSpan.Zero), UdpFramesTarget.Text(random, 32), md5, details);
        }
        return new PeerMetadata(kind, info, TimeSpan.FromMilliseconds(random.Next(10_000))).Encode()!;
    }

    private static string? Maybe(Random random) => random.Next(2) == 0 ? null : UdpFramesTarget.Text(random, 40);

    public override object? Run(object prepared) => PeerMetadata.TryDecode((byte[])prepared, out PeerMetadata answer) is null ? answer : null;

    public override void Check(byte[] input, object? result)
    {
        if (result is not PeerMetadata answer) return;
        if (answer.Kind == PeerMetadataKind.Found && (answer.Info is null || answer.Info.Length < 0)) throw Violated("a found blob without sound properties");
        byte[]? again = answer.Encode();
        if (again is null || !again.AsSpan().SequenceEqual(input)) throw Violated("an answer decoded but does not re-encode to its bytes");
    }

    public override IReadOnlyList<byte[]> Dictionary => [[1], [2], [3], [4], [0xFF, 0xFF], [0xFE, 0xFF], [0x10], [0xC0, 0x80], [0xED, 0xA0, 0x80]];

    // Strings and one dictionary of at most the answer's size, several times over for UTF-16 and the objects.
    public override long AllocationBound(int inputBytes) => 64 * 1024 + 16L * inputBytes;

    public override int MaxInputBytes => PeerMetadata.MaxEncodedBytes + 16;
}
