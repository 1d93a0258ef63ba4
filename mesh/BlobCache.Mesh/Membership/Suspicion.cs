namespace BlobCache.Mesh.Membership;

/// <summary>
/// One node's open suspicions (Lifeguard): each timer starts at <c>max</c> and shrinks towards <c>min</c> as
/// independent members confirm the suspicion, on a log scale reaching <c>min</c> after <c>k</c> confirmations.
/// The set is also the suspicions' timer: <see cref="NextDue"/> is the earliest due time and <see cref="TryExpire"/>
/// takes the suspicions whose time has come, so a suspicion costs no entry in the node's own timer queue.
/// </summary>
/// <remarks>
/// Stored as a dense array of 32-byte structs kept in binary-heap order by due time, the confirmers in one flat
/// array beside it, and a member → position map: in a wave of crashes every node holds one suspicion per crashed
/// member, so a simulated 100,000-node mesh holds a hundred million. Dense, so one can be picked at random.
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

    /// <summary>When the earliest suspicion is due (long.MaxValue when none is open).</summary>
    public long NextDue => Count > 0 ? _entries[0].Due : long.MaxValue;

    /// <summary>
    /// Opens a suspicion of <paramref name="member"/> (replacing any open one) and returns when it is due. Timeouts
    /// are microseconds and are held to 32 bits (71 minutes), far beyond any configured suspicion timeout.
    /// </summary>
    public long Start(int member, uint incarnation, int accuser, int k, long min, long max, long now)
    {
        Remove(member);
        if (Count == _entries.Length)
        {
            Array.Resize(ref _entries, Count * 2);
            Array.Resize(ref _confirmers, _entries.Length * _stride);
        }
        uint lo = (uint)Math.Clamp(min, 0, uint.MaxValue);
        uint hi = (uint)Math.Clamp(Math.Max(min, max), 0, uint.MaxValue);
        byte kk = (byte)Math.Clamp(k, 0, _stride - 1);
        int index = Count++;
        _entries[index] = new Entry
        {
            Member = member,
            Incarnation = incarnation,
            K = kk,
            Confirmers = 1,
            Min = lo,
            Max = hi,
            Due = now + Timeout(0, kk, lo, hi),
        };
        _confirmers[index * _stride] = accuser;
        _indexOf.Set(member, index);
        return _entries[SiftUp(index)].Due;
    }

    public bool TryGet(int member, out uint incarnation)
    {
        if (_indexOf.TryGet(member, out int index))
        {
            incarnation = _entries[index].Incarnation;
            return true;
        }
        incarnation = 0;
        return false;
    }

    /// <summary>When the suspicion of <paramref name="member"/> is due now, given its confirmations (long.MaxValue when none is open).</summary>
    public long DueOf(int member) => _indexOf.TryGet(member, out int index) ? _entries[index].Due : long.MaxValue;

    /// <summary>False once further confirmations could not shorten the timer (or there is no such suspicion).</summary>
    public bool WantsConfirmations(int member) =>
        _indexOf.TryGet(member, out int index) && _entries[index].Confirmers <= _entries[index].K;

    /// <summary>Counts a confirmation from a member not heard from yet; true when it was new (the timer is then shorter).</summary>
    public bool Confirm(int member, int from) => Confirm(member, from, out _);

    /// <summary>As <see cref="Confirm(int, int)"/>, with the timer's new due time.</summary>
    public bool Confirm(int member, int from, out long due)
    {
        due = 0;
        if (!_indexOf.TryGet(member, out int index)) return false;
        ref Entry e = ref _entries[index];
        if (e.Confirmers > e.K) return false;
        Span<int> seen = _confirmers.AsSpan(index * _stride, e.Confirmers);
        if (seen.Contains(from)) return false;
        _confirmers[index * _stride + e.Confirmers] = from;
        long start = e.Due - Timeout(e.Confirmers - 1, e.K, e.Min, e.Max);
        e.Confirmers++;
        e.Due = start + Timeout(e.Confirmers - 1, e.K, e.Min, e.Max);
        due = e.Due;
        SiftUp(index); // a shorter timer only moves up
        return true;
    }

    /// <summary>Takes the earliest suspicion when it is due at or before <paramref name="now"/>.</summary>
    public bool TryExpire(long now, out int member, out uint incarnation)
    {
        if (Count == 0 || _entries[0].Due > now)
        {
            member = -1;
            incarnation = 0;
            return false;
        }
        member = _entries[0].Member;
        incarnation = _entries[0].Incarnation;
        RemoveAt(0);
        return true;
    }

    public void Remove(int member)
    {
        if (_indexOf.TryGet(member, out int index)) RemoveAt(index);
    }

    private void RemoveAt(int index)
    {
        _indexOf.Remove(_entries[index].Member);
        int last = --Count;
        if (index != last)
        {
            // Keep the array dense: the last suspicion moves into the hole, then to its place in the heap.
            Move(last, index);
            SiftDown(SiftUp(index));
        }
        _entries[last] = default;
        if (Count == 0 && _entries.Length > 64)
        {
            // A wave of suspicions has passed: give its memory back.
            _entries = new Entry[4];
            _confirmers = new int[_entries.Length * _stride];
            _indexOf = default;
        }
    }

    private static bool Before(in Entry a, in Entry b) => a.Due < b.Due || (a.Due == b.Due && a.Member < b.Member);

    private int SiftUp(int index)
    {
        while (index > 0)
        {
            int parent = (index - 1) / 2;
            if (!Before(_entries[index], _entries[parent])) break;
            Swap(index, parent);
            index = parent;
        }
        return index;
    }

    private void SiftDown(int index)
    {
        while (true)
        {
            int left = 2 * index + 1;
            if (left >= Count) return;
            int child = left + 1 < Count && Before(_entries[left + 1], _entries[left]) ? left + 1 : left;
            if (!Before(_entries[child], _entries[index])) return;
            Swap(index, child);
            index = child;
        }
    }

    private void Swap(int a, int b)
    {
        (_entries[a], _entries[b]) = (_entries[b], _entries[a]);
        Span<int> ca = _confirmers.AsSpan(a * _stride, _stride), cb = _confirmers.AsSpan(b * _stride, _stride);
        for (int i = 0; i < _stride; i++) (ca[i], cb[i]) = (cb[i], ca[i]);
        _indexOf.Set(_entries[a].Member, a);
        _indexOf.Set(_entries[b].Member, b);
    }

    private void Move(int from, int to)
    {
        _entries[to] = _entries[from];
        Array.Copy(_confirmers, from * _stride, _confirmers, to * _stride, _stride);
        _indexOf.Set(_entries[to].Member, to);
    }

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
        public long Due;
        public int Member;
        public uint Incarnation;
        public uint Min, Max;
        public byte K;
        public byte Confirmers; // including the accuser
    }
}
