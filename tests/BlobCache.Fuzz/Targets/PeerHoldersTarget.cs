using BlobCache.Fuzz.Engine;
using BlobCache.Node.Peers;

namespace BlobCache.Fuzz.Targets;

/// <summary>
/// A busy owner's list of holders through <see cref="PeerHolders.TryDecode"/>, the one decoder the requester runs on
/// it whatever the transport (a framed-TCP busy answer's body, the gRPC trailer, a UDP Busy answer). Never throws;
/// an accepted list has at most <see cref="PeerHolders.MaxIds"/> ids within their byte cap and re-encodes to exactly
/// its bytes.
/// </summary>
public sealed class PeerHoldersTarget : FuzzTarget
{
    public override string Name => "peer-holders";

    public override byte[] Generate(Random random)
    {
        PeerHolders holders = UdpFramesTarget.Holders(random);
        byte[] encoded = new byte[holders.EncodedBytes];
        holders.Encode(encoded);
        return encoded;
    }

    public override object? Run(object prepared) => PeerHolders.TryDecode((byte[])prepared, out PeerHolders holders) is null ? holders : null;

    public override void Check(byte[] input, object? result)
    {
        if (result is not PeerHolders holders) return;
        if (holders.Count > PeerHolders.MaxIds) throw Violated($"{holders.Count} holders accepted");
        byte[] again = new byte[holders.EncodedBytes];
        holders.Encode(again);
        if (!again.AsSpan().SequenceEqual(input)) throw Violated("a list decoded but does not re-encode to its bytes");
    }

    public override IReadOnlyList<byte[]> Dictionary => [[0], [PeerHolders.MaxIds], [PeerHolders.MaxIds + 1], [PeerHolders.MaxIdBytes], [PeerHolders.MaxIdBytes + 1], [0xFF], [0xC0, 0x80]];

    // At most four ids of 200 bytes: four strings and the boxed answer, whatever the input.
    public override long AllocationBound(int inputBytes) => 4 * 1024;

    public override int MaxInputBytes => 4 * 1024;
}
