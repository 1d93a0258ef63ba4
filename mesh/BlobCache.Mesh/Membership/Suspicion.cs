namespace BlobCache.Mesh.Membership;

/// <summary>
/// One node's open suspicions (Lifeguard): each timer starts at <c>max</c> and shrinks towards <c>min</c> as
/// independent members confirm the suspicion, on a log scale reaching <c>min</c> after <c>k</c> confirmations.
/// </summary>
/// <remarks>
/// Stored as a dense array of structs plus the confirmers in one flat array, with a member → index map: in a wave
/// of crashes every node holds one suspicion per crashed member, so a simulated 100,000-node mesh holds many
/// millions; an object and a list per suspicion cost three times as much. Dense, so one can be picked at random.
/// </remarks>
internal sealed class SuspicionSet
{
    private readonly int _stride; // confirmer slots per suspicion: the accuser plus up to k confirmers
    private Entry[] _entries = new Entry[4];
    private int[] _confirmers;
    private IntMap<int> _indexOf;

    /// <param name="maxConfirmations">The largest k any suspicion will ask for.</param>
    public SuspicionSet(int maxConfirmations)
    {
        _stride = Math.Max(0, maxConfirmations) + 1;
        _confirmers = new int[_entries.Length * _stride];
    }

    public int Count { get; private set; }

    public int MemberAt(int index) => _entries[index].Member;

    /// <summary>Opens a suspicion of <paramref name="member"/> (replacing any open one) and returns when it is due.</summary>
    public long Start(int member, uint incarnation, int accuser, int k, long min, long max, long now, int generation)
    {
        Remove(member);
        if (Count == _entries.Length)
        {
            Array.Resize(ref _entries, Count * 2);
            Array.Resize(ref _confirmers, _entries.Length * _stride);
        }
        int index = Count++;
        _entries[index] = new Entry
        {
            Member = member,
            Incarnation = incarnation,
            Generation = generation,
            K = (byte)Math.Clamp(k, 0, _stride - 1),
            Confirmers = 1,
            Start = now,
            Min = min,
            Max = Math.Max(min, max),
        };
        _confirmers[index * _stride] = accuser;
        _indexOf.Set(member, index);
        return Due(_entries[index]);
    }

    public bool TryGet(int member, out uint incarnation, out int generation)
    {
        if (_indexOf.TryGet(member, out int index))
        {
            incarnation = _entries[index].Incarnation;
            generation = _entries[index].Generation;
            return true;
        }
        incarnation = 0;
        generation = 0;
        return false;
    }

    /// <summary>When the suspicion of <paramref name="member"/> is due now, given its confirmations (long.MaxValue when none is open).</summary>
    public long DueOf(int member) => _indexOf.TryGet(member, out int index) ? Due(_entries[index]) : long.MaxValue;

    /// <summary>The earliest the suspicion can ever be due: its start plus the minimum timeout.</summary>
    public long EarliestOf(int member) => _indexOf.TryGet(member, out int index) ? _entries[index].Start + _entries[index].Min : long.MaxValue;

    /// <summary>False once further confirmations could not shorten the timer (or there is no such suspicion).</summary>
    public bool WantsConfirmations(int member) =>
        _indexOf.TryGet(member, out int index) && _entries[index].Confirmers <= _entries[index].K;

    /// <summary>
    /// Counts a confirmation from a member not heard from yet; true when it was new, and then the timer's new
    /// due time (and <paramref name="generation"/> now names it).
    /// </summary>
    public bool Confirm(int member, int from, int generation, out long due)
    {
        due = 0;
        if (!_indexOf.TryGet(member, out int index)) return false;
        ref Entry e = ref _entries[index];
        if (e.Confirmers > e.K) return false;
        Span<int> seen = _confirmers.AsSpan(index * _stride, e.Confirmers);
        if (seen.Contains(from)) return false;
        _confirmers[index * _stride + e.Confirmers] = from;
        e.Confirmers++;
        e.Generation = generation;
        due = Due(e);
        return true;
    }

    public void Remove(int member)
    {
        if (!_indexOf.TryGet(member, out int index)) return;
        _indexOf.Remove(member);
        int last = --Count;
        if (index != last)
        {
            // Keep the array dense: the last suspicion moves into the hole.
            _entries[index] = _entries[last];
            Array.Copy(_confirmers, last * _stride, _confirmers, index * _stride, _stride);
            _indexOf.Set(_entries[index].Member, index);
        }
        _entries[last] = default;
    }

    private static long Due(in Entry e) => e.Start + Timeout(e.Confirmers - 1, e.K, e.Min, e.Max);

    /// <summary>The timeout after <paramref name="confirmations"/> independent confirmations out of <paramref name="k"/> wanted.</summary>
    public static long Timeout(int confirmations, int k, long min, long max)
    {
        if (k < 1 || max <= min) return min;
        double fraction = Math.Log(Math.Min(confirmations, k) + 1.0) / Math.Log(k + 1.0);
        long t = max - (long)(fraction * (max - min));
        return Math.Max(t, min);
    }

    private struct Entry
    {
        public int Member;
        public uint Incarnation;
        public int Generation;
        public byte K;
        public byte Confirmers; // including the accuser
        public long Start, Min, Max;
    }
}
