namespace BlobCache.Protocol.Gossip;

/// <summary>The kind of a piggy-backed membership update.</summary>
public enum UpdateKind : byte
{
    Alive = 1,
    Suspect = 2,
    /// <summary>Dead; when <see cref="MemberUpdate.From"/> equals the member itself, it left gracefully.</summary>
    Dead = 3,
}

/// <summary>
/// One membership rumour, piggy-backed on probes and gossip.
/// Alive carries the member's <see cref="Meta"/>; Suspect and Dead carry who said so in <see cref="From"/>.
/// </summary>
public readonly record struct MemberUpdate(
    UpdateKind Kind,
    string MemberId,
    uint Incarnation,
    string From,
    MemberMeta? Meta);

/// <summary>One member's full state, as exchanged in push-pull anti-entropy.</summary>
public readonly record struct MemberRecord(MemberMeta Meta, uint Incarnation, MemberState State);
