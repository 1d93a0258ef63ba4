namespace BlobCache.Mesh.Membership;

/// <summary>One of a <see cref="SwimNode"/>'s protocol timers: what to do when it fires, and the probe or exchange it belongs to.</summary>
internal readonly record struct SwimTimer(SwimTimerKind Kind, int Arg);

internal enum SwimTimerKind : byte { Probe, IndirectProbe, Gossip, PushPull, JoinRetry, RelayNack, Reconnect }
