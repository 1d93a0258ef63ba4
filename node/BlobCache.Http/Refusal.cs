namespace BlobCache.Http;

/// <summary>Why the server turned a connection or a request away before any handler saw it.</summary>
public enum Refusal
{
    /// <summary>A malformed or oversized head or body: a 4xx/5xx answer, then the connection closes.</summary>
    Malformed,
    /// <summary>Closed at accept: <see cref="LoopServer.MaxConnections"/> were open and none could be shed.</summary>
    OverLimit,
    /// <summary>An idle or slow connection closed to make room for a new one near the connection limit.</summary>
    Shed,
    /// <summary>A request that did not arrive whole within <see cref="LoopServer.ReceiveTimeout"/>, or a new connection that sent none.</summary>
    TimedOut,
    /// <summary>A body refused (503) because the bodies buffered at once would pass <see cref="LoopServer.MaxBufferedBodyBytes"/>.</summary>
    BodyMemory,
    /// <summary>A request other than a probe on a connection admitted into the probes' reserve (503).</summary>
    NotAProbe,
}

public static class Refusals
{
    /// <summary>The metric label of a refusal.</summary>
    public static string Label(this Refusal refusal) => refusal switch
    {
        Refusal.Malformed => "malformed",
        Refusal.OverLimit => "connections",
        Refusal.Shed => "shed",
        Refusal.TimedOut => "timeout",
        Refusal.BodyMemory => "body_memory",
        Refusal.NotAProbe => "reserve",
        _ => refusal.ToString().ToLowerInvariant(),
    };
}
