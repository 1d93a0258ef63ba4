using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

/// <summary>How a host sends an <see cref="Outbound"/> message (the same in the node and the simulator).</summary>
public enum GossipChannel : byte
{
    /// <summary>One datagram, within the datagram budget.</summary>
    Datagram,
    /// <summary>A state transfer (a push-pull too big for one datagram): by stream, with its own compact codec.</summary>
    Stream,
    /// <summary>
    /// Neither: a probe or gossip message above the datagram budget. The mesh fills packets to the budget, so only
    /// extreme ids and addresses get here; the host counts it, logs a warning and sends nothing, as a socket would.
    /// </summary>
    Oversize,
}

/// <summary>The one rule that decides between datagram and stream, for every host.</summary>
public static class GossipChannels
{
    /// <summary>
    /// A message that fits <paramref name="datagramBytes"/> (its exact size in the datagram codec) goes by datagram;
    /// a push-pull that does not goes by stream; anything else that does not is <see cref="GossipChannel.Oversize"/>.
    /// </summary>
    public static GossipChannel Choose(GossipMessage message, int datagramBytes, out int bytes)
    {
        bytes = RumourList.Measure(message);
        if (bytes <= datagramBytes) return GossipChannel.Datagram;
        return message is PushPull ? GossipChannel.Stream : GossipChannel.Oversize;
    }
}
