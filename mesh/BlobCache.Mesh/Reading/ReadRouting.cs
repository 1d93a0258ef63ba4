namespace BlobCache.Mesh.Reading;

/// <summary>
/// How a reader looks for a chunk it does not hold: how many owners of its region it asks, how many holders an
/// owner's "busy" answer may point it to, how often it comes back to a busy owner and after how long, and how long
/// one peer may take. The node's options and the simulator's workload both make one of these, so both route alike.
/// </summary>
public sealed record ReadRouting
{
    /// <summary>Owners of the chunk in this region asked in rank order (each fills from Blob for the region).</summary>
    public int OwnersToTry { get; init; } = 2;

    /// <summary>Holders taken from "busy" answers; each is asked once, without fill.</summary>
    public int HoldersToTry { get; init; } = 4;

    /// <summary>How many times the wait before asking a busy owner again doubles (it stays at that cap after).</summary>
    public int BusyRetries { get; init; } = 3;

    /// <summary>How long a reader waits before asking a busy owner again: about one transfer, when a slot frees.</summary>
    public long BusyBackoffMicros { get; init; } = 50 * Micros.PerMillisecond;

    /// <summary>
    /// How long a reader keeps coming back to a busy owner before it tries the next place. Busy is load, not failure:
    /// an owner that answers "busy" is alive and will send, and giving up on it sooner sends the reader to Blob, which
    /// is the load a stampede must not make (a stampede of 10,000 simulated readers read each chunk from Blob thousands
    /// of times when readers gave up after three tries).
    /// </summary>
    public long BusyWaitMicros { get; init; } = 30 * Micros.PerSecond;

    /// <summary>
    /// How long a peer has to say it took the request (before any fill or send): what a dead or hung peer costs. A
    /// peer that answered has <see cref="PeerDeadlineMicros"/> for the whole chunk.
    /// </summary>
    public long AnswerTimeoutMicros { get; init; } = 2 * Micros.PerSecond;

    /// <summary>How long one peer may take to deliver the whole chunk (from the request) before the reader moves on.</summary>
    public long PeerDeadlineMicros { get; init; } = 60 * Micros.PerSecond;

    /// <summary>When a peer asked in <paramref name="decision"/> must have answered, whatever its deadline for the chunk.</summary>
    public long AnswerBy(in RouteDecision decision) => Math.Min(decision.Deadline, decision.NotBefore + AnswerTimeoutMicros);

    public void Validate()
    {
        if (OwnersToTry is < 1 or > ChunkRoute.MaxOwners) throw new ArgumentOutOfRangeException(nameof(OwnersToTry), OwnersToTry, $"1 to {ChunkRoute.MaxOwners}");
        if (HoldersToTry is < 0 or > ChunkRoute.MaxHolders) throw new ArgumentOutOfRangeException(nameof(HoldersToTry), HoldersToTry, $"0 to {ChunkRoute.MaxHolders}");
        if (BusyRetries is < 0 or > 16) throw new ArgumentOutOfRangeException(nameof(BusyRetries), BusyRetries, "0 to 16");
        if (BusyWaitMicros < 0) throw new ArgumentOutOfRangeException(nameof(BusyWaitMicros), BusyWaitMicros, "not negative");
        if (BusyBackoffMicros < 0) throw new ArgumentOutOfRangeException(nameof(BusyBackoffMicros), BusyBackoffMicros, "not negative");
        if (AnswerTimeoutMicros <= 0) throw new ArgumentOutOfRangeException(nameof(AnswerTimeoutMicros), AnswerTimeoutMicros, "positive");
        if (PeerDeadlineMicros <= 0) throw new ArgumentOutOfRangeException(nameof(PeerDeadlineMicros), PeerDeadlineMicros, "positive");
    }
}
