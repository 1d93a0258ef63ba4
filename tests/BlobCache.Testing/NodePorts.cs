namespace BlobCache.Testing;

/// <summary>The four loopback ports of one node, picked before it starts (e.g. to put relays in front of them first).</summary>
public sealed record NodePorts(int Http, int Grpc, int Gossip, int Udp)
{
    public static NodePorts Next() => new(Ports.Next(), Ports.Next(), Ports.Next(), Ports.Next());
}
