namespace BlobCache.Protocol.Gossip;

/// <summary>Hard bounds on what a decoder accepts. Anything beyond them is rejected before it is allocated.</summary>
public sealed record WireLimits
{
    /// <summary>Longest id, address, region or zone, in UTF-8 bytes.</summary>
    public const int MaxStringBytes = 255;

    /// <summary>Largest datagram accepted (UDP gossip).</summary>
    public int MaxPacketBytes { get; init; } = 64 * 1024;

    /// <summary>Largest push-pull payload accepted (sent over a stream, not a datagram).</summary>
    public int MaxPushPullBytes { get; init; } = 64 * 1024 * 1024;

    /// <summary>Most piggy-backed updates accepted in one message.</summary>
    public int MaxUpdates { get; init; } = 1024;

    /// <summary>Most member records accepted in one push-pull.</summary>
    public int MaxPushPullMembers { get; init; } = 250_000;

    /// <summary>
    /// Largest state transfer accepted over a stream: the frame as sent (compressed or not) and its body once
    /// decompressed. A member costs about 40–110 bytes uncompressed, so the default holds a few hundred thousand.
    /// </summary>
    public int MaxStreamBytes { get; init; } = 32 * 1024 * 1024;

    /// <summary>Most buckets in a push-pull's <see cref="PushPull.Digest"/>.</summary>
    public const int MaxDigestBuckets = 65_536;

    public static WireLimits Default { get; } = new();
}
