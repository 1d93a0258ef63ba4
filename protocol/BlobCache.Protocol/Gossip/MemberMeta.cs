namespace BlobCache.Protocol.Gossip;

/// <summary>
/// What a member says about itself. It changes only together with a new incarnation,
/// so (member, incarnation) names one metadata value everywhere in the mesh.
/// Records compare by value, which lets hosts intern equal values and share them.
/// </summary>
/// <param name="Id">Stable member id (pod name, host name); at most <see cref="WireLimits.MaxStringBytes"/> UTF-8 bytes.</param>
/// <param name="GossipAddress">host:port of the member's gossip (UDP) socket.</param>
/// <param name="GrpcAddress">host:port of its gRPC peer endpoint, or empty.</param>
/// <param name="UdpAddress">host:port of its UDP chunk endpoint, or empty.</param>
/// <param name="Region">Region name; placement is computed per region.</param>
/// <param name="Zone">Availability zone inside the region.</param>
/// <param name="Weight">Capacity weight for placement; 100 is a standard node, 0 takes no keys.</param>
/// <param name="Version">Software/protocol version the member runs.</param>
public sealed record MemberMeta(
    string Id,
    string GossipAddress,
    string GrpcAddress,
    string UdpAddress,
    string Region,
    string Zone,
    ushort Weight,
    uint Version);
