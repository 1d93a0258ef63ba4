namespace BlobCache.Mesh.Reading;

/// <summary>
/// How a node learns a blob's properties and listing pages through the mesh (<see cref="MetadataRoute"/>): whether
/// it does at all, how many owners it asks, how many members share one deputy per key, and how long one peer may take.
/// The node's options and the simulator's workload both make one of these.
/// </summary>
public sealed record MetadataRouting
{
    /// <summary>Most deputies a key has: bounds the owner's load per key at this many requests per TTL.</summary>
    public const int MaxBuckets = 4096;

    /// <summary>False: every node asks Blob itself (the node's --metadata-ttl-seconds 0, or --metadata-via-mesh false).</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Owners of the key asked in rank order before Blob (1 or 2).</summary>
    public int OwnersToTry { get; init; } = 2;

    /// <summary>
    /// Members that share one deputy per key: a deputy is asked about a key by about this many members per TTL, and
    /// a region of at most this many members asks the owner directly.
    /// </summary>
    public int MembersPerOwner { get; init; } = 256;

    /// <summary>
    /// How long one peer may take before the node asks the next place (an owner that says Blob is throttling it is
    /// asked again instead: <see cref="MetadataRoute.OnThrottled"/>).
    /// </summary>
    public long PeerDeadlineMicros { get; init; } = 2 * Micros.PerSecond;

    /// <summary>How long an asker keeps coming back to an owner that says Blob is throttling it, before the next place.</summary>
    public long ThrottleWaitMicros { get; init; } = 30 * Micros.PerSecond;

    /// <summary>The first wait before asking a throttled owner again; it doubles up to 16 times this.</summary>
    public long ThrottleBackoffMicros { get; init; } = 100 * Micros.PerMillisecond;

    public void Validate()
    {
        if (OwnersToTry is < 1 or > 2) throw new ArgumentOutOfRangeException(nameof(OwnersToTry), OwnersToTry, "1 or 2");
        if (MembersPerOwner < 1) throw new ArgumentOutOfRangeException(nameof(MembersPerOwner), MembersPerOwner, "at least 1");
        if (ThrottleWaitMicros < 0) throw new ArgumentOutOfRangeException(nameof(ThrottleWaitMicros), ThrottleWaitMicros, "not negative");
        if (ThrottleBackoffMicros <= 0) throw new ArgumentOutOfRangeException(nameof(ThrottleBackoffMicros), ThrottleBackoffMicros, "positive");
        if (PeerDeadlineMicros <= 0) throw new ArgumentOutOfRangeException(nameof(PeerDeadlineMicros), PeerDeadlineMicros, "positive");
    }
}
