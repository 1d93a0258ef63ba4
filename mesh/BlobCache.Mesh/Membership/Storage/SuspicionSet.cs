namespace BlobCache.Mesh.Membership;

/// <summary>
/// One node's open suspicions (Lifeguard): each timer starts at <c>max</c> and shrinks towards <c>min</c> as
/// independent members confirm the suspicion (<see cref="SuspicionTimeout"/>).
/// The set is also the suspicions' timer: <see cref="NextDue"/> is the earliest due time and <see cref="TryExpire"/>
/// hands over the suspicions whose time has come, so a suspicion costs no entry in the node's own timer queue.
/// </summary>
/// <remarks>
/// <para>
/// In a wave of crashes every node holds one suspicion per crashed member (a simulated 100,000-node mesh holds a
/// hundred million), so a suspicion is one 32-byte record plus its k + 1 confirmer ids, a 4-byte place in a binary
/// heap of record numbers ordered by due time, and an entry in a member → record map: about 60 bytes.
/// </para>
/// <para>
/// A record knows its place in the heap (an <see cref="IndexedHeap"/>), so a confirmation moves its due time forward
/// in place and an ended suspicion leaves at once. Records are dense: removing one moves the last into its place.
/// </para>
/// </remarks>
internal sealed class SuspicionSet
{
    private readonly int _stride; // confirmer slots per suspicion: the accuser plus up to k confirmers
    private Record[] _records = new Record[4];
    private int[] _confirmers;
    private IndexedHeap _byDue = new(4); // record numbers, earliest due first
    // Member → record number, with Done set once the suspicion wants no more confirmations: most copies of a
    // suspicion arrive after that, and the flag turns them away without touching the record (a cache miss).
    private IntMap<int> _byMember;
    private const int Done = int.MinValue;
    private int _wanting;

    /// <param name="maxConfirmations">The largest k any suspicion will ask for.</param>
    public SuspicionSet(int maxConfirmations)
    {
        _stride = Math.Max(0, maxConfirmations) + 1;
        _confirmers = new int[_records.Length * _stride];
    }

    /// <summary>Open suspicions.</summary>
    public int Count => _byDue.Count;

    /// <summary>The member of the open suspicion numbered <paramref name="index"/> (0 ≤ index &lt; <see cref="Count"/>).</summary>
    public int MemberAt(int index) => _records[index].Member;

    /// <summary>Suspicions still counting confirmations.</summary>
    public int ActiveCount => _wanting;

    /// <summary>Bytes of the records, their confirmers, the member map and the heap (for the simulator's memory breakdown).</summary>
    public (long Records, long Confirmers, long Map, long Heap) ArrayBytes =>
        ((long)_records.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<Record>(), (long)_confirmers.Length * sizeof(int),
         _byMember.ArrayBytes, _byDue.ArrayBytes);

    /// <summary>When the earliest suspicion is due (long.MaxValue when none is open).</summary>
    public long NextDue => Count > 0 ? _records[_byDue.First].Due : long.MaxValue;

    /// <summary>
    /// Opens a suspicion of <paramref name="member"/> (ending any open one) and returns when it is due as things
    /// stand. Timeouts are microseconds; the span max − min is held to 32 bits (71 minutes).
    /// </summary>
    public long Start(int member, uint incarnation, int accuser, int k, long min, long max, long now)
    {
        Remove(member);
        byte kk = (byte)Math.Clamp(k, 0, _stride - 1);
        max = Math.Max(min, max);
        long due = now + SuspicionTimeout.After(0, kk, min, max);
        if (Count == _records.Length)
        {
            int grown = Arrays.GrownByHalf(Count);
            Arrays.Grow(ref _records, grown);
            Arrays.Grow(ref _confirmers, grown * _stride);
            _byDue.Grow(grown);
        }
        int index = Count;
        _records[index] = new Record
        {
            Due = due,
            Member = member,
            Incarnation = incarnation,
            Span = (uint)Math.Clamp(max - min, 0, uint.MaxValue),
            RumourSlot = -1,
            K = kk,
            Confirmers = 1,
        };
        _confirmers[index * _stride] = accuser;
        _byMember.Set(member, kk > 0 ? index : index | Done);
        if (kk > 0) _wanting++;
        _byDue.Add(index, ByDue);
        return due;
    }

    /// <summary>Brings the cache line of <paramref name="member"/>'s map slot in (see <see cref="IntMap{TValue}.Touch"/>).</summary>
    public int Touch(int member) => _byMember.Touch(member);

    /// <summary>Where the open suspicion of <paramref name="member"/> is (-1: none). Valid until one is started or ends.</summary>
    public int Find(int member) => _byMember.TryGet(member, out int index) ? index & ~Done : -1;

    /// <summary>As <see cref="Find"/>, but -1 also when the suspicion wants no more confirmations (one map lookup, no record read).</summary>
    public int FindWanting(int member) => _byMember.TryGet(member, out int index) && index >= 0 ? index : -1;

    /// <summary>
    /// Counts a confirmation from <paramref name="from"/> of the suspicion of <paramref name="member"/> at
    /// <paramref name="incarnation"/>; true when it was new (the timer is then shorter), with where the suspicion is.
    /// A suspicion that wants no more confirmations turns it away at the map, without reading the record.
    /// </summary>
    public bool TryConfirm(int member, uint incarnation, int from, long now, out int index)
    {
        index = FindWanting(member);
        return index >= 0 && _records[index].Incarnation == incarnation && ConfirmAt(index, from, now, out _, out _);
    }

    /// <summary>The incarnation of the suspicion at <paramref name="index"/> (see <see cref="Find"/>).</summary>
    public uint IncarnationAt(int index) => _records[index].Incarnation;

    /// <summary>The queue slot of the rumour the suspicion at <paramref name="index"/> last queued (-1: none).</summary>
    public int RumourSlotAt(int index) => _records[index].RumourSlot;

    public void SetRumourSlotAt(int index, int slot) => _records[index].RumourSlot = slot;

    /// <summary>The incarnation of the suspicion of <paramref name="member"/>, if one is open and counting confirmations.</summary>
    public bool TryGet(int member, out uint incarnation)
    {
        if (_byMember.TryGet(member, out int index) && index >= 0)
        {
            incarnation = _records[index].Incarnation;
            return true;
        }
        incarnation = 0;
        return false;
    }

    /// <summary>When the suspicion of <paramref name="member"/> is due now (long.MaxValue when none is counting confirmations).</summary>
    public long DueOf(int member) => _byMember.TryGet(member, out int index) && index >= 0 ? _records[index].Due : long.MaxValue;

    /// <summary>False once further confirmations could not shorten the timer (or there is no such suspicion).</summary>
    public bool WantsConfirmations(int member) => _byMember.TryGet(member, out int index) && index >= 0;

    /// <summary>The queue slot of the rumour this suspicion last queued (-1 when none).</summary>
    public int RumourSlotOf(int member) => _byMember.TryGet(member, out int index) ? _records[index & ~Done].RumourSlot : -1;

    /// <summary>Records the queue slot of the rumour this suspicion last queued (ignored when there is none).</summary>
    public void SetRumourSlot(int member, int slot)
    {
        if (_byMember.TryGet(member, out int index)) _records[index & ~Done].RumourSlot = slot;
    }

    /// <summary>Counts a confirmation from a member not heard from yet; true when it was new (the timer is then shorter).</summary>
    public bool Confirm(int member, int from, long now) => Confirm(member, from, now, out _);

    /// <summary>As <see cref="Confirm(int, int, long)"/>, with the timer's new due time.</summary>
    public bool Confirm(int member, int from, long now, out long due)
    {
        due = 0;
        return _byMember.TryGet(member, out int index) && ConfirmAt(index & ~Done, from, now, out due, out _);
    }

    /// <summary>
    /// As <see cref="Confirm(int, int, long, out long)"/> for the suspicion at <paramref name="index"/> (one map lookup
    /// per received rumour instead of several); <paramref name="stillWanting"/> is false once it has all its
    /// confirmations. <paramref name="index"/> stays valid either way.
    /// </summary>
    public bool ConfirmAt(int index, int from, long now, out long due, out bool stillWanting)
    {
        ref Record e = ref _records[index];
        due = e.Due;
        stillWanting = Wants(index);
        if (!stillWanting) return false;
        Span<int> seen = _confirmers.AsSpan(index * _stride, e.Confirmers);
        if (seen.Contains(from)) return false;
        _confirmers[index * _stride + e.Confirmers] = from;
        // The timer is max − ⌊f(c)·(max − min)⌋ after the start, so only the span is needed to move it.
        long before = SuspicionTimeout.Shortening(e.Confirmers - 1, e.K, e.Span);
        e.Confirmers++;
        e.Due -= SuspicionTimeout.Shortening(e.Confirmers - 1, e.K, e.Span) - before;
        due = e.Due;
        _byDue.MovedEarlier(index, ByDue);
        if (!Wants(index))
        {
            _wanting--;
            stillWanting = false;
            _byMember.Set(e.Member, index | Done);
        }
        return true;
    }

    /// <summary>
    /// Hands over the next suspicion due at or before <paramref name="now"/> and ends it: the member and the
    /// incarnation it was suspected at. The caller declares it dead if its view still holds it suspect at that incarnation.
    /// </summary>
    public bool TryExpire(long now, out int member, out uint incarnation) => TryExpire(now, out member, out incarnation, out _);

    /// <summary>As <see cref="TryExpire(long, out int, out uint)"/>, with the queue slot of the rumour it last queued (-1: none).</summary>
    public bool TryExpire(long now, out int member, out uint incarnation, out int rumourSlot)
    {
        if (Count > 0 && _records[_byDue.First].Due <= now)
        {
            int index = _byDue.First;
            member = _records[index].Member;
            incarnation = _records[index].Incarnation;
            rumourSlot = _records[index].RumourSlot;
            RemoveAt(index);
            return true;
        }
        member = -1;
        incarnation = 0;
        rumourSlot = -1;
        return false;
    }

    /// <summary>Ends the suspicion of <paramref name="member"/>, if one is open; returns the queue slot of the rumour it last queued (-1: none).</summary>
    public int Remove(int member)
    {
        if (!_byMember.TryGet(member, out int index)) return -1;
        index &= ~Done;
        int slot = _records[index].RumourSlot;
        RemoveAt(index);
        return slot;
    }

    private bool Wants(int index) => _records[index].Confirmers <= _records[index].K;

    private void RemoveAt(int index)
    {
        ref Record e = ref _records[index];
        if (Wants(index)) _wanting--;
        _byMember.Remove(e.Member);
        _byDue.Remove(index, ByDue);
        // Records are dense: the last one takes this one's number (its heap entry and map entry follow).
        int last = Count;
        if (index != last)
        {
            _records[index] = _records[last];
            Array.Copy(_confirmers, last * _stride, _confirmers, index * _stride, _stride);
            _byDue.Renumbered(index, ByDue);
            _byMember.Set(_records[index].Member, Wants(index) ? index : index | Done);
        }
        if (Count == 0 && _records.Length > 64)
        {
            // A wave of suspicions has passed: give its memory back.
            _records = new Record[4];
            _confirmers = new int[_records.Length * _stride];
            _byDue = new(4);
            _byMember = default;
        }
        else
        {
            _byMember.TrimExcess();
        }
    }

    /// <summary>The heap's order over the records as they are now (the array is replaced when it grows).</summary>
    private DueOrder ByDue => new(_records);

    /// <summary>Earlier due first; ties by member and incarnation, so the order never depends on record numbers.</summary>
    private readonly struct DueOrder(Record[] records) : IHeapOrder
    {
        public bool Before(int a, int b)
        {
            ref Record x = ref records[a];
            ref Record y = ref records[b];
            return x.Due < y.Due || (x.Due == y.Due && (x.Member < y.Member || (x.Member == y.Member && x.Incarnation < y.Incarnation)));
        }

        public ref int PlaceOf(int item) => ref records[item].HeapPos;
    }

    /// <summary>The timeout after <paramref name="confirmations"/> independent confirmations out of <paramref name="k"/> wanted (see <see cref="SuspicionTimeout.After"/>).</summary>
    public static long Timeout(int confirmations, int k, long min, long max) => SuspicionTimeout.After(confirmations, k, min, max);

    /// <summary>32 bytes (and k + 1 confirmer ids beside it).</summary>
    private struct Record
    {
        public long Due;        // as things stand (start + the timeout for the confirmations so far)
        public int Member;
        public uint Incarnation;
        public uint Span;       // max − min, microseconds
        public int RumourSlot;  // the queue slot of the rumour it last queued (-1: none)
        public int HeapPos;
        public byte K;
        public byte Confirmers; // including the accuser
    }
}
