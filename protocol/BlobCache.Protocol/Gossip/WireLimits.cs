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

    public static WireLimits Default { get; } = new();
}
