using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

public enum MemberEventKind : byte
{
    Joined = 1,
    Suspect = 2,
    /// <summary>A suspicion was refuted: the member is alive again at a higher incarnation.</summary>
    Recovered = 3,
    Dead = 4,
    Left = 5,
    /// <summary>The member's metadata changed (new incarnation).</summary>
    Updated = 6,
    /// <summary>No seed answered this attempt to join; the node keeps trying.</summary>
    JoinRetry = 7,
    /// <summary>A seed answered: this node has a view of the mesh.</summary>
    JoinedMesh = 8,
}

/// <summary>Something the host may want to log, count or react to (placement rebuilds, metrics).</summary>
public readonly record struct MemberEvent(long At, MemberEventKind Kind, int Member, uint Incarnation);

/// <summary>
/// A message the host must send: to a known member (<see cref="ToMember"/> ≥ 0) or to a bare address (a seed), by
/// <see cref="Channel"/>. <see cref="Bytes"/> is its exact size in the datagram codec.
/// </summary>
public readonly record struct Outbound(int ToMember, string ToAddress, GossipMessage Message, GossipChannel Channel, int Bytes);
