namespace BlobCache.Mesh.Membership;

/// <summary>
/// A node's protocol timers, earliest first. Timers due at the same instant fire in the order they were set, so the
/// order never depends on the heap's layout and a seed replays bit for bit.
/// </summary>
internal sealed class TimerQueue
{
    private readonly PriorityQueue<SwimTimer, (long Due, long Order)> _heap = new();
    private long _order;

    /// <summary>When the earliest timer is due (long.MaxValue when none is set).</summary>
    public long NextDue => _heap.TryPeek(out _, out var p) ? p.Due : long.MaxValue;

    /// <summary>The earliest timer and when it is due (long.MaxValue when none is set); it stays queued.</summary>
    public long Peek(out SwimTimer timer) => _heap.TryPeek(out timer, out var p) ? p.Due : long.MaxValue;

    public void Schedule(long due, SwimTimer timer) => _heap.Enqueue(timer, (due, ++_order));

    /// <summary>Drops the earliest timer (the one <see cref="Peek"/> returned).</summary>
    public void Dequeue() => _heap.Dequeue();
}
