using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

/// <summary>
/// Rumours waiting to be piggy-backed. Each is sent up to a retransmit limit (λ·log10(N+1)); alive rumours
/// (refutations, joins) go before suspect and dead ones, then the least-sent go first (the most recently queued
/// first among equals), and a newer rumour about a member supersedes the older one.
/// </summary>
/// <remarks>
/// <para>
/// Rumours live in one array of reference-free 32-byte slots (a <see cref="Rumour"/>: directory handles and a cached
/// size), each on a doubly linked list of the rumours sent equally often; no object per rumour and no tree, because
/// in a wave of crashes every node holds thousands of them (and the simulator holds 100,000 nodes), and arrays
/// without references cost the garbage collector nothing to scan. Filling a packet stops after a run of rumours that
/// do not fit, instead of scanning the whole queue for a small one.
/// </para>
/// <para>
/// There is no member → rumour map. A rumour is superseded exactly when the view no longer says what it says (a
/// member's state and incarnation only move forward, and every rumour the node queues records a change of its
/// view), so <see cref="Take"/> drops a rumour the view has moved past when it comes to it, and it is never sent.
/// The one exception, a Lifeguard confirmation (the same suspicion again from another accuser), names the slot it
/// replaces. That saves a map entry per rumour, which in a wave of crashes is a fifth of a node's memory.
/// </para>
/// <para>
/// Alive rumours go first because when the packets cannot carry every rumour (many members suspected at once, as
/// when a tenth of the fleet keeps stalling), a late refutation turns a live member into a false death, while a
/// late suspicion or death only delays the detection of one that really failed. In a crash wave there are no
/// alive rumours, so the order there is unchanged.
/// </para>
/// </remarks>
public sealed class BroadcastQueue(MemberDirectory directory)
{
    private const int GiveUpAfterMisses = 8;
    private const int None = -1;
    private Slot[] _slots = new Slot[8];
    private int[] _head = [], _tail = []; // list (transmits·2 + lane) → oldest and newest slot on it
    private readonly List<int> _taken = [];
    private int _count, _highWater, _free = None;

    public MemberDirectory Directory => directory;

    /// <summary>Bytes of this queue's arrays (for the simulator's memory breakdown).</summary>
    public long ArrayBytes => (long)_slots.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<Slot>() + (_head.Length + _tail.Length) * sizeof(int);

    /// <summary>Rumours queued, counting superseded ones not yet dropped.</summary>
    public int Count => _count;

    /// <summary>Queues a rumour about <paramref name="member"/>.</summary>
    public int Enqueue(int member, in MemberUpdate update)
    {
        int meta = update.Meta is null ? 0 : directory.Intern(update.Meta);
        return Enqueue(directory.Rumour(update.Kind, member, update.Incarnation, update.From.Length == 0 ? -1 : directory.GetOrAdd(update.From), meta));
    }

    /// <summary>
    /// Queues <paramref name="rumour"/> and returns its slot; <paramref name="replacing"/> names the slot of an older
    /// rumour about the same member to drop now (ignored unless it still holds one).
    /// </summary>
    public int Enqueue(in Rumour rumour, int replacing = None)
    {
        if (Holds(replacing, rumour.Member)) Retire(replacing, linked: true);
        int slot;
        if (_free != None)
        {
            slot = _free;
            _free = _slots[slot].Next;
        }
        else
        {
            if (_highWater == _slots.Length) Arrays.Grow(ref _slots, Arrays.GrownByHalf(_slots.Length));
            slot = _highWater++;
        }
        _slots[slot] = new Slot { Rumour = rumour, Live = true };
        Append(slot, 0);
        _count++;
        return slot;
    }

    /// <summary>Drops the suspicion of <paramref name="member"/> queued in <paramref name="slot"/>, if it is still there (-1: none).</summary>
    public void DropSuspicion(int slot, int member)
    {
        if (Holds(slot, member) && _slots[slot].Rumour.Kind == UpdateKind.Suspect) Retire(slot, linked: true);
    }

    /// <summary>True when <paramref name="slot"/> still holds a rumour about <paramref name="member"/>.</summary>
    public bool Holds(int slot, int member) => (uint)slot < (uint)_highWater && _slots[slot].Live && _slots[slot].Rumour.Member == member;

    /// <summary>How many times the rumour in <paramref name="slot"/> has been sent (0 when the slot holds none).</summary>
    public int TransmitsOf(int slot) => (uint)slot < (uint)_highWater && _slots[slot].Live ? _slots[slot].Transmits : 0;

    /// <summary>As <see cref="Take(int, int, List{Rumour}, MemberTable?)"/>, as updates.</summary>
    public void Take(int budgetBytes, int retransmitLimit, List<MemberUpdate> into, MemberTable? view = null, int deadRetransmitLimit = 0)
    {
        var rumours = new List<Rumour>();
        Take(budgetBytes, retransmitLimit, rumours, view, deadRetransmitLimit);
        foreach (Rumour r in rumours) into.Add(directory.ToUpdate(r));
    }

    /// <summary>
    /// Appends as many rumours as fit in <paramref name="budgetBytes"/> to <paramref name="into"/>, counts a
    /// transmission for each, and retires those that reached <paramref name="retransmitLimit"/>. Rumours that
    /// <paramref name="view"/> has moved past are dropped unsent (no view: none are). Dead rumours are retired at
    /// <paramref name="deadRetransmitLimit"/> instead when it is positive.
    /// </summary>
    public void Take(int budgetBytes, int retransmitLimit, List<Rumour> into, MemberTable? view = null, int deadRetransmitLimit = 0)
    {
        if (_count == 0 || budgetBytes < GossipCodecSizes.SmallestUpdate) return;
        retransmitLimit = Math.Clamp(retransmitLimit, 1, byte.MaxValue);
        deadRetransmitLimit = deadRetransmitLimit > 0 ? Math.Clamp(deadRetransmitLimit, 1, byte.MaxValue) : retransmitLimit;
        _taken.Clear();
        int used = 0, misses = 0;
        // Alive rumours first, then least sent first; among equals the most recently queued (or moved) first.
        for (int list = 0; list < _tail.Length && misses < GiveUpAfterMisses; list = NextList(list))
        {
            for (int slot = _tail[list]; slot != None && misses < GiveUpAfterMisses;)
            {
                ref Slot s = ref _slots[slot];
                int prev = s.Prev;
                if (view is not null && !IsCurrent(s.Rumour, view))
                {
                    Retire(slot, linked: true);
                    slot = prev;
                    continue;
                }
                int size = s.Rumour.Size;
                if (used + size > budgetBytes) misses++;
                else
                {
                    used += size;
                    misses = 0;
                    _taken.Add(slot);
                    if (budgetBytes - used < GossipCodecSizes.SmallestUpdate) misses = GiveUpAfterMisses;
                }
                slot = prev;
            }
        }
        foreach (int slot in _taken)
        {
            ref Slot s = ref _slots[slot];
            into.Add(s.Rumour);
            Unlink(slot);
            s.Transmits++;
            if (s.Transmits >= (s.Rumour.Kind == UpdateKind.Dead ? deadRetransmitLimit : retransmitLimit)) Retire(slot, linked: false);
            else Append(slot, s.Transmits);
        }
        if (_count == 0 && _slots.Length > 64)
        {
            // A burst has passed: give its memory back.
            _slots = new Slot[8];
            _highWater = 0;
            _free = None;
        }
    }

    /// <summary>True while <paramref name="view"/> still says what the rumour says.</summary>
    private static bool IsCurrent(in Rumour r, MemberTable view)
    {
        MemberEntry e = view[r.Member];
        if (e.Incarnation != r.Incarnation) return false;
        return r.Kind switch
        {
            UpdateKind.Alive => e.State == MemberState.Alive,
            UpdateKind.Suspect => e.State == MemberState.Suspect,
            _ => e.State is MemberState.Dead or MemberState.Left,
        };
    }

    private void Retire(int slot, bool linked)
    {
        if (linked) Unlink(slot);
        ref Slot s = ref _slots[slot];
        s = default;
        s.Next = _free;
        _free = slot;
        _count--;
    }

    /// <summary>The list of a rumour sent <paramref name="transmits"/> times: even lists hold alive rumours.</summary>
    private static int ListOf(in Rumour r, int transmits) => transmits * 2 + (r.Kind == UpdateKind.Alive ? 0 : 1);

    /// <summary>Every alive list (even), then every other list (odd), each lane by transmits.</summary>
    private int NextList(int list)
    {
        list += 2;
        return list >= _tail.Length && (list & 1) == 0 ? 1 : list;
    }

    private void Append(int slot, int transmits)
    {
        int list = ListOf(_slots[slot].Rumour, transmits);
        if (list >= _tail.Length)
        {
            int old = _tail.Length, size = Math.Max(16, (transmits + 1) * 2);
            Array.Resize(ref _head, size);
            Array.Resize(ref _tail, size);
            _head.AsSpan(old).Fill(None);
            _tail.AsSpan(old).Fill(None);
        }
        ref Slot s = ref _slots[slot];
        s.Prev = _tail[list];
        s.Next = None;
        if (s.Prev != None) _slots[s.Prev].Next = slot;
        else _head[list] = slot;
        _tail[list] = slot;
    }

    private void Unlink(int slot)
    {
        ref Slot s = ref _slots[slot];
        int list = ListOf(s.Rumour, s.Transmits);
        if (s.Prev != None) _slots[s.Prev].Next = s.Next;
        else _head[list] = s.Next;
        if (s.Next != None) _slots[s.Next].Prev = s.Prev;
        else _tail[list] = s.Prev;
    }

    private struct Slot
    {
        public Rumour Rumour;
        public int Prev, Next; // neighbours on the list of rumours sent as often (Next: the free list when not live)
        public byte Transmits; // bounded by the retransmit limit, far below 255
        public bool Live;
    }
}
