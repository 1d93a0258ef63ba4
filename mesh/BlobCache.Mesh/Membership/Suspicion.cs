namespace BlobCache.Mesh.Membership;

/// <summary>
/// One node's open suspicions (Lifeguard): each timer starts at <c>max</c> and shrinks towards <c>min</c> as
/// independent members confirm the suspicion, on a log scale reaching <c>min</c> after <c>k</c> confirmations.
/// The set is also the suspicions' timer: <see cref="NextDue"/> is the earliest check due and <see cref="TryExpire"/>
/// hands over the suspicions whose time has come, so a suspicion costs no entry in the node's own timer queue.
/// </summary>
/// <remarks>
/// <para>
/// In a wave of crashes every node holds one suspicion per crashed member (a simulated 100,000-node mesh holds a
/// hundred million), but a suspicion collects its k confirmations within seconds and then only waits. So a
/// suspicion that still counts confirmations is <em>active</em>: a dense entry with its confirmers, found through a
/// member → entry map. Every suspicion also has a 16-byte check (due, member, incarnation) in a binary heap, first
/// at its earliest possible expiry (start + min); once all confirmations are in, the check is all that is left.
/// </para>
/// <para>
/// Checks are not taken out of the heap when a suspicion ends: a check hands over (member, incarnation), and the
/// caller acts only if its view still holds that member suspect at that incarnation (a member's incarnation only
/// grows and a dead member is never suspected again at the same one, so that is exactly "this suspicion is still
/// open"). A check that finds an active suspicion not yet due is pushed again at its due time.
/// </para>
/// </remarks>
internal sealed class SuspicionSet
{
    private readonly int _stride; // confirmer slots per active suspicion: the accuser plus up to k confirmers
    private Active[] _active = new Active[4];
    private int[] _confirmers;
    private IntMap<int> _activeIndex;
    private int _activeCount;
    private Check[] _heap = new Check[4];

    /// <param name="maxConfirmations">The largest k any suspicion will ask for.</param>
    public SuspicionSet(int maxConfirmations)
    {
        _stride = Math.Max(0, maxConfirmations) + 1;
        _confirmers = new int[_active.Length * _stride];
    }

    /// <summary>Pending checks: the open suspicions, plus ended ones whose check has not come up yet.</summary>
    public int Count { get; private set; }

    /// <summary>The member of one pending check (see <see cref="Count"/>; the caller checks that it is still suspect).</summary>
    public int MemberAt(int index) => _heap[index].Member;

    /// <summary>Bytes of the active entries, their confirmers, their map and the checks (for the simulator's memory breakdown).</summary>
    public (long Active, long Confirmers, long Map, long Checks) ArrayBytes =>
        ((long)_active.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<Active>(), (long)_confirmers.Length * sizeof(int),
         _activeIndex.ArrayBytes, (long)_heap.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<Check>());

    /// <summary>Suspicions still counting confirmations.</summary>
    public int ActiveCount => _activeCount;

    /// <summary>When the earliest check is due (long.MaxValue when none is pending).</summary>
    public long NextDue => Count > 0 ? _heap[0].Due : long.MaxValue;

    /// <summary>
    /// Opens a suspicion of <paramref name="member"/> (ending any open one) and returns when it is due as things
    /// stand. Timeouts are microseconds; the span max − min is held to 32 bits (71 minutes).
    /// </summary>
    public long Start(int member, uint incarnation, int accuser, int k, long min, long max, long now)
    {
        Remove(member);
        byte kk = (byte)Math.Clamp(k, 0, _stride - 1);
        max = Math.Max(min, max);
        long due = now + Timeout(0, kk, min, max);
        Push(new Check { Due = now + min, Member = member, Incarnation = incarnation });
        if (kk == 0) return due; // nothing to count: the check at start + min is all there is
        if (_activeCount == _active.Length)
        {
            Array.Resize(ref _active, Grown(_activeCount));
            Array.Resize(ref _confirmers, _active.Length * _stride);
        }
        int index = _activeCount++;
        _active[index] = new Active
        {
            Member = member,
            Incarnation = incarnation,
            K = kk,
            Confirmers = 1,
            Span = (uint)Math.Clamp(max - min, 0, uint.MaxValue),
            Due = due,
        };
        _confirmers[index * _stride] = accuser;
        _activeIndex.Set(member, index);
        return due;
    }

    /// <summary>Where the active suspicion of <paramref name="member"/> is (-1: none is counting confirmations). Valid until the set changes.</summary>
    public int Find(int member) => _activeIndex.TryGet(member, out int index) ? index : -1;

    /// <summary>The incarnation of the active suspicion at <paramref name="index"/> (see <see cref="Find"/>).</summary>
    public uint IncarnationAt(int index) => _active[index].Incarnation;

    /// <summary>The queue slot of the rumour the active suspicion at <paramref name="index"/> last queued.</summary>
    public int RumourSlotAt(int index) => _active[index].RumourSlot;

    public void SetRumourSlotAt(int index, int slot) => _active[index].RumourSlot = slot;

    /// <summary>The incarnation of the active suspicion of <paramref name="member"/>, if one is counting confirmations.</summary>
    public bool TryGet(int member, out uint incarnation)
    {
        if (_activeIndex.TryGet(member, out int index))
        {
            incarnation = _active[index].Incarnation;
            return true;
        }
        incarnation = 0;
        return false;
    }

    /// <summary>When the active suspicion of <paramref name="member"/> is due now (long.MaxValue when none is active).</summary>
    public long DueOf(int member) => _activeIndex.TryGet(member, out int index) ? _active[index].Due : long.MaxValue;

    /// <summary>False once further confirmations could not shorten the timer (or there is no such suspicion).</summary>
    public bool WantsConfirmations(int member) => _activeIndex.Contains(member);

    /// <summary>The queue slot of the rumour this suspicion last queued (-1 when none or not active).</summary>
    public int RumourSlotOf(int member) => _activeIndex.TryGet(member, out int index) ? _active[index].RumourSlot : -1;

    /// <summary>Records the queue slot of the rumour this suspicion last queued (ignored when not active).</summary>
    public void SetRumourSlot(int member, int slot)
    {
        if (_activeIndex.TryGet(member, out int index)) _active[index].RumourSlot = slot;
    }

    /// <summary>Counts a confirmation from a member not heard from yet; true when it was new (the timer is then shorter).</summary>
    public bool Confirm(int member, int from, long now) => Confirm(member, from, now, out _);

    /// <summary>As <see cref="Confirm(int, int, long)"/>, with the timer's new due time.</summary>
    public bool Confirm(int member, int from, long now, out long due)
    {
        due = 0;
        return _activeIndex.TryGet(member, out int index) && ConfirmAt(index, from, now, out due, out _);
    }

    /// <summary>
    /// As <see cref="Confirm(int, int, long, out long)"/> for the active suspicion at <paramref name="index"/> (one map
    /// lookup per received rumour instead of several); <paramref name="stillActive"/> is false once it has all its
    /// confirmations (then <paramref name="index"/> no longer names it).
    /// </summary>
    public bool ConfirmAt(int index, int from, long now, out long due, out bool stillActive)
    {
        ref Active e = ref _active[index];
        int member = e.Member;
        stillActive = true;
        due = e.Due;
        Span<int> seen = _confirmers.AsSpan(index * _stride, e.Confirmers);
        if (seen.Contains(from)) return false;
        _confirmers[index * _stride + e.Confirmers] = from;
        // The timer is max − ⌊f(c)·(max − min)⌋ after the start, so only the span is needed to move it.
        long before = Shortening(e.Confirmers - 1, e.K, e.Span);
        e.Confirmers++;
        e.Due -= Shortening(e.Confirmers - 1, e.K, e.Span) - before;
        due = e.Due;
        if (e.Rechecked)
        {
            // Its first check already came and was pushed back to the old due time: it needs an earlier one.
            Push(new Check { Due = Math.Max(due, now), Member = member, Incarnation = e.Incarnation });
        }
        if (e.Confirmers > e.K)
        {
            RemoveActive(index); // all in: the check alone decides now
            stillActive = false;
        }
        return true;
    }

    /// <summary>
    /// Hands over the next check due at or before <paramref name="now"/>: the member and the incarnation it was
    /// suspected at. The caller declares it dead only if its view still holds it suspect at that incarnation.
    /// </summary>
    public bool TryExpire(long now, out int member, out uint incarnation) => TryExpire(now, out member, out incarnation, out _);

    /// <summary>As <see cref="TryExpire(long, out int, out uint)"/>, with the queue slot of the rumour it last queued (-1: none known).</summary>
    public bool TryExpire(long now, out int member, out uint incarnation, out int rumourSlot)
    {
        rumourSlot = -1;
        while (Count > 0 && _heap[0].Due <= now)
        {
            Check c = Pop();
            if (_activeIndex.TryGet(c.Member, out int index) && _active[index].Incarnation == c.Incarnation)
            {
                ref Active e = ref _active[index];
                if (e.Due > now)
                {
                    // Fewer confirmations than hoped for: check again when it is due as things stand (a
                    // confirmation since then may have pushed an earlier check; the later one then finds nothing).
                    e.Rechecked = true;
                    Push(new Check { Due = e.Due, Member = c.Member, Incarnation = c.Incarnation });
                    continue;
                }
                rumourSlot = e.RumourSlot;
                RemoveActive(index);
            }
            member = c.Member;
            incarnation = c.Incarnation;
            return true;
        }
        member = -1;
        incarnation = 0;
        return false;
    }

    /// <summary>
    /// Ends the active part of a suspicion (its check stays and will find the member no longer suspect) and returns
    /// the queue slot of the rumour it last queued (-1 when it was not active).
    /// </summary>
    public int Remove(int member)
    {
        if (!_activeIndex.TryGet(member, out int index)) return -1;
        int slot = _active[index].RumourSlot;
        RemoveActive(index);
        return slot;
    }

    private void RemoveActive(int index)
    {
        _activeIndex.Remove(_active[index].Member);
        int last = --_activeCount;
        if (index != last)
        {
            _active[index] = _active[last];
            Array.Copy(_confirmers, last * _stride, _confirmers, index * _stride, _stride);
            _activeIndex.Set(_active[index].Member, index);
        }
        _active[last] = default;
        if (_activeCount == 0 && _active.Length > 64)
        {
            _active = new Active[4];
            _confirmers = new int[_active.Length * _stride];
            _activeIndex = default;
        }
    }

    private void Push(Check c)
    {
        if (Count == _heap.Length) Array.Resize(ref _heap, Grown(Count));
        int i = Count++;
        while (i > 0)
        {
            int parent = (i - 1) / 2;
            if (!Before(c, _heap[parent])) break;
            _heap[i] = _heap[parent];
            i = parent;
        }
        _heap[i] = c;
    }

    private Check Pop()
    {
        Check top = _heap[0];
        Check last = _heap[--Count];
        _heap[Count] = default;
        if (Count > 0)
        {
            int i = 0;
            while (true)
            {
                int child = 2 * i + 1;
                if (child >= Count) break;
                if (child + 1 < Count && Before(_heap[child + 1], _heap[child])) child++;
                if (!Before(_heap[child], last)) break;
                _heap[i] = _heap[child];
                i = child;
            }
            _heap[i] = last;
        }
        else if (_heap.Length > 64)
        {
            _heap = new Check[4]; // a wave of suspicions has passed: give its memory back
        }
        return top;
    }

    /// <summary>Grows by half, not double: a wave of 1,000 crashes should not cost room for 2,048.</summary>
    internal static int Grown(int length) => length + length / 2 + 4;

    private static bool Before(in Check a, in Check b) =>
        a.Due < b.Due || (a.Due == b.Due && (a.Member < b.Member || (a.Member == b.Member && a.Incarnation < b.Incarnation)));

    /// <summary>The timeout after <paramref name="confirmations"/> independent confirmations out of <paramref name="k"/> wanted.</summary>
    public static long Timeout(int confirmations, int k, long min, long max)
    {
        if (k < 1 || max <= min) return min;
        return Math.Max(max - Shortening(confirmations, k, max - min), min);
    }

    /// <summary>How much <paramref name="confirmations"/> take off the maximum: ⌊log(c+1)/log(k+1) · span⌋.</summary>
    private static long Shortening(int confirmations, int k, long span)
    {
        if (k < 1 || span <= 0) return 0;
        double fraction = Math.Log(Math.Min(confirmations, k) + 1.0) / Math.Log(k + 1.0);
        return (long)(fraction * span);
    }

    /// <summary>16 bytes: when to look at the suspicion of a member at an incarnation.</summary>
    private struct Check
    {
        public long Due;
        public int Member;
        public uint Incarnation;
    }

    /// <summary>32 bytes (and k + 1 confirmer ids beside it).</summary>
    private struct Active
    {
        public long Due;      // as things stand (start + the timeout for the confirmations so far)
        public int Member;
        public uint Incarnation;
        public int RumourSlot;
        public uint Span;     // max − min, microseconds
        public byte K;
        public byte Confirmers; // including the accuser
        public bool Rechecked;  // its first check (at start + min) came before it was due
    }
}
