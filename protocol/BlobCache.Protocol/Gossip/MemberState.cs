namespace BlobCache.Protocol.Gossip;

/// <summary>A member's state as one node sees it. Numeric order is the precedence at equal incarnation.</summary>
public enum MemberState : byte
{
    /// <summary>Not known to this view (never sent on the wire).</summary>
    None = 0,
    Alive = 1,
    Suspect = 2,
    Dead = 3,
    /// <summary>Left gracefully: dead, but by its own word.</summary>
    Left = 4,
}
