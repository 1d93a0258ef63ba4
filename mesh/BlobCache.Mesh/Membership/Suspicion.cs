namespace BlobCache.Mesh.Membership;

/// <summary>
/// One suspected member's timer (Lifeguard): it starts at <c>max</c> and shrinks towards <c>min</c> as independent
/// members confirm the suspicion, on a log scale reaching <c>min</c> after <c>k</c> confirmations.
/// </summary>
internal sealed class Suspicion
{
    private readonly List<int> _confirmers = [];
    private readonly int _k;
    private readonly long _min, _max, _start;

    public Suspicion(int member, uint incarnation, int from, int k, long min, long max, long start)
    {
        Member = member;
        Incarnation = incarnation;
        _k = k;
        _min = min;
        _max = max;
        _start = start;
        _confirmers.Add(from);
        Due = start + Timeout(0);
    }

    public int Member { get; }

    /// <summary>Position in the owner's list of suspicions.</summary>
    public int ListIndex { get; set; }
    public uint Incarnation { get; }
    public long Due { get; private set; }

    /// <summary>
    /// Set by the owner, from one counter across all suspicions, on every (re)schedule: a stale timer entry of an
    /// earlier suspicion of the same member must never match a later one.
    /// </summary>
    public int Generation { get; set; }

    public int Confirmations => _confirmers.Count - 1;

    /// <summary>False once further confirmations could not shorten the timer.</summary>
    public bool WantsConfirmations => _confirmers.Count <= _k;

    /// <summary>Adds a confirmation from a member not heard from yet; true when it was new (worth re-gossiping).</summary>
    public bool Confirm(int from)
    {
        if (_confirmers.Count > _k || _confirmers.Contains(from)) return false;
        _confirmers.Add(from);
        Due = _start + Timeout(Confirmations);
        return true;
    }

    private long Timeout(int confirmations)
    {
        if (_k < 1 || _max <= _min) return _min;
        double fraction = Math.Log(confirmations + 1.0) / Math.Log(_k + 1.0);
        long t = _max - (long)(fraction * (_max - _min));
        return Math.Max(t, _min);
    }
}
