using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

/// <summary>Exact wire sizes from the codec, so packets are filled to the byte budget and never beyond it.</summary>
internal static class GossipCodecSizes
{
    /// <summary>No encoded update is smaller than this; below it a packet is full.</summary>
    public const int SmallestUpdate = 8;

    public static int Update(in MemberUpdate update) => GossipCodec.MeasureUpdate(update);

    /// <summary>Bytes left for rumours in a packet that carries <paramref name="message"/> (which has no updates yet).</summary>
    public static int Room(GossipMessage message, int maxPacketBytes) =>
        maxPacketBytes - GossipCodec.Measure(message) - GossipCodec.UpdatesArrayHeaderMaxBytes;
}
