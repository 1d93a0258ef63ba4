namespace BlobCache.Protocol.Gossip;

/// <summary>Discriminator of a gossip message on the wire.</summary>
public enum MessageKind : byte
{
    Ping = 1,
    IndirectPing = 2,
    Ack = 3,
    Nack = 4,
    Gossip = 5,
    PushPull = 6,
}

/// <summary>
/// A membership message. Every kind can carry piggy-backed <see cref="Updates"/>:
/// that is how SWIM disseminates rumours at no extra packet cost.
/// </summary>
public abstract class GossipMessage
{
    public abstract MessageKind Kind { get; }

    /// <summary>Id of the member that sent this message.</summary>
    public required string SourceId { get; init; }

    /// <summary>Settable so a sender can fill a message's spare room with rumours after measuring it.</summary>
    public IReadOnlyList<MemberUpdate> Updates { get; set; } = [];
}

/// <summary>Direct probe. Carries the target's id so a new process on an old address does not answer for the old one.</summary>
public sealed class Ping : GossipMessage
{
    public override MessageKind Kind => MessageKind.Ping;
    public required uint Seq { get; init; }
    public required string TargetId { get; init; }
    /// <summary>Where to send the ack (the sender's gossip address).</summary>
    public required string SourceAddress { get; init; }
}

/// <summary>Ask a member to probe <see cref="TargetId"/> on our behalf (SWIM ping-req).</summary>
public sealed class IndirectPing : GossipMessage
{
    public override MessageKind Kind => MessageKind.IndirectPing;
    public required uint Seq { get; init; }
    public required string TargetId { get; init; }
    public required string TargetAddress { get; init; }
    public required string SourceAddress { get; init; }
    /// <summary>Lifeguard: answer with a nack if the target does not answer in time.</summary>
    public bool WantNack { get; init; }
}

/// <summary>Answer to a probe; forwarded by the intermediary of an indirect probe.</summary>
public sealed class Ack : GossipMessage
{
    public override MessageKind Kind => MessageKind.Ack;
    public required uint Seq { get; init; }
}

/// <summary>Lifeguard: "I tried your target and heard nothing" — proves the requester's own path works.</summary>
public sealed class Nack : GossipMessage
{
    public override MessageKind Kind => MessageKind.Nack;
    public required uint Seq { get; init; }
}

/// <summary>A packet of rumours only, sent to a few random members each gossip interval.</summary>
public sealed class Gossip : GossipMessage
{
    public override MessageKind Kind => MessageKind.Gossip;
}

/// <summary>
/// Anti-entropy and join: member state. The receiver merges <see cref="Members"/> and, unless this is a reply, answers
/// with its own. With a <see cref="Digest"/> the exchange is a delta: the sender lists only what the receiver may
/// lack, and the receiver answers only with the members of the buckets whose digests differ from its own.
/// </summary>
public sealed class PushPull : GossipMessage
{
    public override MessageKind Kind => MessageKind.PushPull;
    public required string SourceAddress { get; init; }
    public bool Join { get; init; }
    public bool IsReply { get; init; }
    public required IReadOnlyList<MemberRecord> Members { get; init; }

    /// <summary>
    /// A 32-bit summary per bucket of the sender's whole view (members bucketed by the stable hash of their id; the
    /// count is 0 or a power of two, at most <see cref="WireLimits.MaxDigestBuckets"/>). Empty: no summary, so the
    /// answer holds every member (a sender of the first format version never sends one).
    /// </summary>
    public uint[] Digest { get; init; } = [];
}
