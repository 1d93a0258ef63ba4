namespace BlobCache.Testing;

/// <summary>
/// What a <see cref="UdpRelay"/> or <see cref="TcpRelay"/> does to the traffic through it. Each datagram (or each
/// piece of a stream as it was read) waits a delay drawn uniformly from [<see cref="MinDelay"/>, <see cref="MaxDelay"/>];
/// datagrams with unequal delays overtake each other (reordering), a stream keeps its order. A lost datagram is
/// gone; a lost piece of a stream is what TCP makes of it: a stall of <see cref="RetransmitStall"/> before it arrives.
/// </summary>
public sealed record RelayFaults
{
    /// <summary>Fraction of datagrams dropped (UDP) or of stream pieces stalled (TCP), 0..1.</summary>
    public double Loss { get; init; }

    public TimeSpan MinDelay { get; init; }

    public TimeSpan MaxDelay { get; init; }

    /// <summary>
    /// What a lost piece of a TCP stream costs: a fast retransmit, about one more round trip on a path with this
    /// relay's delays (a retransmission timeout, 200 ms and more, is for losses in a burst).
    /// </summary>
    public TimeSpan RetransmitStall { get; init; } = TimeSpan.FromMilliseconds(60);

    /// <summary>Everything passes at once.</summary>
    public static RelayFaults None { get; } = new();

    /// <summary>Every datagram or stream piece is delayed by [<paramref name="minMs"/>, <paramref name="maxMs"/>] ms, a fraction <paramref name="loss"/> lost.</summary>
    public static RelayFaults Lossy(double loss, int minMs, int maxMs) =>
        new() { Loss = loss, MinDelay = TimeSpan.FromMilliseconds(minMs), MaxDelay = TimeSpan.FromMilliseconds(maxMs) };

    /// <summary>One draw: whether the item is lost, and how long it waits.</summary>
    internal (bool Lost, TimeSpan Delay) Draw(Random random)
    {
        bool lost;
        double jitter;
        lock (random)
        {
            lost = Loss > 0 && random.NextDouble() < Loss;
            jitter = random.NextDouble();
        }
        return (lost, MinDelay + (MaxDelay - MinDelay) * jitter);
    }
}
