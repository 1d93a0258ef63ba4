namespace BlobCache.Mesh;

/// <summary>
/// Every membership knob in one place, with defaults for a data-centre LAN (memberlist's LAN profile,
/// which the SWIM and Lifeguard papers evaluated). Times are <see cref="TimeSpan"/> here and microseconds inside.
/// </summary>
public sealed record MeshConfig
{
    /// <summary>One probe per interval (SWIM's protocol period). Scaled by the local health multiplier.</summary>
    public TimeSpan ProbeInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long to wait for a direct ack before asking others to probe (indirect probe).</summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How many members are asked to probe indirectly (SWIM's k).</summary>
    public int IndirectChecks { get; init; } = 3;

    /// <summary>λ: each rumour is sent about λ·log10(N+1) times (rounded up).</summary>
    public int RetransmitMult { get; init; } = 4;

    /// <summary>α: the minimum suspicion timeout is α·max(1, log10(N))·ProbeInterval.</summary>
    public int SuspicionMult { get; init; } = 4;

    /// <summary>β: a fresh suspicion starts at β times the minimum and shrinks with independent confirmations.</summary>
    public int SuspicionMaxTimeoutMult { get; init; } = 6;

    /// <summary>How often queued rumours are pushed to a few random members.</summary>
    public TimeSpan GossipInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>How many random members get each gossip round.</summary>
    public int GossipNodes { get; init; } = 3;

    /// <summary>Base anti-entropy interval; scaled up with the cluster size beyond 32 members (as memberlist does).</summary>
    public TimeSpan PushPullInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How often to ping one random dead (not left) member; if it answers, push-pull with it. This is how the two
    /// sides of a healed partition find each other again: gossip only goes to members believed live.
    /// </summary>
    public TimeSpan ReconnectInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long to wait for a seed's answer before asking the next seed.</summary>
    public TimeSpan JoinRetryInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// A member whose view holds more live members than this answers a join with a sample, not its view: the joiner,
    /// itself and random live members, at most this many and no more than one datagram holds; the joiner then pulls
    /// the view from one of them. So a seed serves each joiner one datagram whatever the mesh's size, and the views
    /// come from every member, not the seeds.
    /// </summary>
    public int JoinSampleMembers { get; init; } = 32;

    /// <summary>
    /// Alive rumours (joins, refutations) a node holds for gossip at most; past it the oldest never-sent goes, and
    /// push-pull repairs what it would have told (see <see cref="Membership.BroadcastQueue"/>). A node sends a few
    /// hundred rumours a second and each alive one λ·⌈log10(N+1)⌉ times, so 512 is half a minute of its gossip or
    /// more: only a fleet starting at once reaches it, where without a bound every node queues nearly every joiner.
    /// </summary>
    public int MaxQueuedAliveRumours { get; init; } = 512;

    /// <summary>Lifeguard: local health multiplier bound; timeouts stretch up to this factor. 1 disables it.</summary>
    public int AwarenessMaxMultiplier { get; init; } = 8;

    /// <summary>
    /// Lifeguard on (default): local health multiplier, nacks on indirect probes, and suspicion timeouts that shrink
    /// with confirmations. Off: plain SWIM with a fixed suspicion timeout, kept so the simulator can compare.
    /// </summary>
    public bool Lifeguard { get; init; } = true;

    /// <summary>
    /// Who hears of a suspicion. <see cref="SuspicionSpread.Gossip"/>: every member, as SWIM and memberlist do;
    /// each holds a timer and independent accusers shorten it (Lifeguard). <see cref="SuspicionSpread.Accuser"/>:
    /// only the members whose own probes failed; the accuser tells the suspect at once and every probe period
    /// (Lifeguard's buddy system; the suspect's ack carries its refutation) and declares it dead after the
    /// minimum timeout; a suspicion heard from another member is ignored, and only deaths and refutations are
    /// gossiped. In a wave of crashes that spares every node a suspicion, its confirmations and a timer per
    /// crashed member: about three quarters of the wave's rumours. <see cref="SuspicionSpread.Auto"/> (default):
    /// gossip below <see cref="AccuserSuspicionsFrom"/> live members, accuser from there on.
    /// </summary>
    public SuspicionSpread Suspicions { get; init; } = SuspicionSpread.Auto;

    /// <summary>Under <see cref="SuspicionSpread.Auto"/>, the mesh size (live members) from which suspicions stay with their accusers.</summary>
    public int AccuserSuspicionsFrom { get; init; } = 2_000;

    /// <summary>How often a rumour is sent in a mesh of <paramref name="liveMembers"/>: λ·⌈log10(N+1)⌉, at least once.</summary>
    public int RetransmitLimit(int liveMembers) => Math.Max(1, RetransmitMult * (int)Math.Ceiling(Math.Log10(liveMembers + 1.0)));

    /// <summary>
    /// How often a death is sent. Kept by its accusers, a suspicion leaves the death as the one rumour that carries a
    /// crash to every member (gossiped, the suspicion and its confirmations reach them too, and each runs its own
    /// timer), so it gets one more decade of sends: a given member is e^λ times less likely to miss it.
    /// </summary>
    public int DeadRetransmitLimit(int liveMembers) =>
        RetransmitLimit(liveMembers) + (GossipsSuspicions(liveMembers) ? 0 : RetransmitMult);

    /// <summary>Whether suspicions are gossiped in a mesh of <paramref name="liveMembers"/> live members.</summary>
    public bool GossipsSuspicions(int liveMembers) => Suspicions switch
    {
        SuspicionSpread.Gossip => true,
        SuspicionSpread.Accuser => false,
        _ => liveMembers < AccuserSuspicionsFrom,
    };

    /// <summary>Budget for one gossip datagram, headers and piggy-backed rumours included.</summary>
    public int MaxPacketBytes { get; init; } = 1400;

    public static MeshConfig Default { get; } = new();

    /// <summary>
    /// Suspicion timeout bounds, in microseconds, in a mesh of <paramref name="liveMembers"/>:
    /// min = SuspicionMult·max(1, log10 N)·ProbeInterval, and (under Lifeguard, with gossiped suspicions)
    /// SuspicionMaxTimeoutMult·min to start from.
    /// </summary>
    public (long Min, long Max) SuspicionTimeouts(int liveMembers)
    {
        long min = (long)(SuspicionMult * Math.Max(1.0, Math.Log10(Math.Max(liveMembers, 1))) * Micros.From(ProbeInterval));
        // Confirmations only come from gossiped suspicions; an accuser-only suspicion has none to wait for.
        return (min, Lifeguard && GossipsSuspicions(liveMembers) ? SuspicionMaxTimeoutMult * min : min);
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        static void Positive(TimeSpan t, string name)
        {
            if (t <= TimeSpan.Zero) throw new ArgumentException($"{name} must be positive, got {t}", name);
        }
        Positive(ProbeInterval, nameof(ProbeInterval));
        Positive(ProbeTimeout, nameof(ProbeTimeout));
        Positive(GossipInterval, nameof(GossipInterval));
        Positive(PushPullInterval, nameof(PushPullInterval));
        Positive(JoinRetryInterval, nameof(JoinRetryInterval));
        Positive(ReconnectInterval, nameof(ReconnectInterval));
        if (ProbeTimeout >= ProbeInterval) throw new ArgumentException("ProbeTimeout must be shorter than ProbeInterval", nameof(ProbeTimeout));
        if (IndirectChecks < 0) throw new ArgumentException("IndirectChecks must be ≥ 0", nameof(IndirectChecks));
        if (RetransmitMult < 1) throw new ArgumentException("RetransmitMult must be ≥ 1", nameof(RetransmitMult));
        if (SuspicionMult < 1) throw new ArgumentException("SuspicionMult must be ≥ 1", nameof(SuspicionMult));
        if (SuspicionMaxTimeoutMult < 1) throw new ArgumentException("SuspicionMaxTimeoutMult must be ≥ 1", nameof(SuspicionMaxTimeoutMult));
        if (GossipNodes < 0) throw new ArgumentException("GossipNodes must be ≥ 0", nameof(GossipNodes));
        if (AwarenessMaxMultiplier < 1) throw new ArgumentException("AwarenessMaxMultiplier must be ≥ 1", nameof(AwarenessMaxMultiplier));
        if (MaxQueuedAliveRumours < 1) throw new ArgumentException("MaxQueuedAliveRumours must be ≥ 1", nameof(MaxQueuedAliveRumours));
        if (JoinSampleMembers < 1) throw new ArgumentException("JoinSampleMembers must be ≥ 1", nameof(JoinSampleMembers));
        if (AccuserSuspicionsFrom < 0) throw new ArgumentException("AccuserSuspicionsFrom must be ≥ 0", nameof(AccuserSuspicionsFrom));
        if (!Enum.IsDefined(Suspicions)) throw new ArgumentException($"Suspicions must be Auto, Gossip or Accuser, got {Suspicions}", nameof(Suspicions));
        if (MaxPacketBytes < 512) throw new ArgumentException("MaxPacketBytes must be ≥ 512", nameof(MaxPacketBytes));
    }
}

/// <summary>Who hears of a suspicion: see <see cref="MeshConfig.Suspicions"/>.</summary>
public enum SuspicionSpread
{
    /// <summary>Gossip in meshes smaller than <see cref="MeshConfig.AccuserSuspicionsFrom"/>, accuser from there on.</summary>
    Auto,
    /// <summary>Every member (SWIM, Lifeguard).</summary>
    Gossip,
    /// <summary>Only the accusers and the suspect.</summary>
    Accuser,
}
