using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

/// <summary>
/// Rumours waiting to be piggy-backed. Each is sent up to a retransmit limit (λ·log10(N+1)); the least-sent go
/// first (the most recently queued first among equals), and a newer rumour about a member replaces the older one.
/// </summary>
/// <remarks>
/// Rumours live in one array of reference-free 32-byte slots (a <see cref="Rumour"/>: directory handles and a cached
/// size), each on a doubly linked list of the rumours sent equally often, with a member → slot map; no object per
/// rumour and no tree, because in a wave of crashes every node holds thousands of them (and the simulator holds
/// 100,000 nodes), and arrays without references cost the garbage collector nothing to scan. The lists hold only
/// live rumours, so filling a packet never steps over replaced ones and a retired slot is reused at once. Filling a
/// packet stops after a run of rumours that do not fit, instead of scanning the whole queue for a small one.
/// </remarks>
public sealed class BroadcastQueue(MemberDirectory directory)
{
    private const int GiveUpAfterMisses = 8;
    private const int None = -1;
    private Slot[] _slots = new Slot[8];
    private IntMap<int> _byMember;
    private int[] _head = [], _tail = []; // transmits → oldest and newest slot sent that often
    private readonly List<int> _taken = [];
    private int _count, _highWater, _free = None;

    public int Count => _count;

    /// <summary>Queues a rumour about <paramref name="member"/>, dropping any older one about the same member.</summary>
    public void Enqueue(int member, in MemberUpdate update)
    {
        int meta = update.Meta is null ? 0 : directory.Intern(update.Meta);
        Enqueue(directory.Rumour(update.Kind, member, update.Incarnation, update.From.Length == 0 ? -1 : directory.GetOrAdd(update.From), meta));
    }

    /// <summary>Queues <paramref name="rumour"/>, dropping any older one about the same member.</summary>
    public void Enqueue(in Rumour rumour)
    {
        if (_byMember.TryGet(rumour.Member, out int old)) Retire(old);
        int slot;
        if (_free != None)
        {
            slot = _free;
            _free = _slots[slot].Next;
        }
        else
        {
            if (_highWater == _slots.Length) Array.Resize(ref _slots, _slots.Length * 2);
            slot = _highWater++;
        }
        _slots[slot] = new Slot { Rumour = rumour };
        _byMember.Set(rumour.Member, slot);
        Append(slot, 0);
        _count++;
    }

    /// <summary>True when a rumour about <paramref name="member"/> is still queued.</summary>
    public bool Contains(int member) => _byMember.Contains(member);

    /// <summary>How many times the queued rumour about <paramref name="member"/> has been sent (0 when none).</summary>
    public int TransmitsOf(int member) => _byMember.TryGet(member, out int slot) ? _slots[slot].Transmits : 0;

    /// <summary>As <see cref="Take(int, int, List{Rumour})"/>, as updates.</summary>
    public void Take(int budgetBytes, int retransmitLimit, List<MemberUpdate> into)
    {
        var rumours = new List<Rumour>();
        Take(budgetBytes, retransmitLimit, rumours);
        foreach (Rumour r in rumours) into.Add(directory.ToUpdate(r));
    }

    /// <summary>
    /// Appends as many rumours as fit in <paramref name="budgetBytes"/> to <paramref name="into"/>, counts a
    /// transmission for each, and retires those that reached <paramref name="retransmitLimit"/>.
    /// </summary>
    public void Take(int budgetBytes, int retransmitLimit, List<Rumour> into)
    {
        if (_count == 0 || budgetBytes < GossipCodecSizes.SmallestUpdate) return;
        retransmitLimit = Math.Clamp(retransmitLimit, 1, byte.MaxValue);
        _taken.Clear();
        int used = 0, misses = 0;
        // Least sent first; among equals the most recently queued (or moved) first.
        for (int t = 0; t < _tail.Length && misses < GiveUpAfterMisses; t++)
        {
            for (int slot = _tail[t]; slot != None && misses < GiveUpAfterMisses; slot = _slots[slot].Prev)
            {
                int size = _slots[slot].Rumour.Size;
                if (used + size > budgetBytes)
                {
                    misses++;
                    continue;
                }
                used += size;
                misses = 0;
                _taken.Add(slot);
                if (budgetBytes - used < GossipCodecSizes.SmallestUpdate) misses = GiveUpAfterMisses;
            }
        }
        foreach (int slot in _taken)
        {
            ref Slot s = ref _slots[slot];
            into.Add(s.Rumour);
            Unlink(slot);
            s.Transmits++;
            if (s.Transmits >= retransmitLimit) Retire(slot, linked: false);
            else Append(slot, s.Transmits);
        }
        if (_count == 0 && _slots.Length > 64)
        {
            // A burst has passed: give its memory back.
            _slots = new Slot[8];
            _byMember = default;
            _highWater = 0;
            _free = None;
        }
    }

    private void Retire(int slot, bool linked = true)
    {
        ref Slot s = ref _slots[slot];
        if (linked) Unlink(slot);
        _byMember.Remove(s.Rumour.Member);
        s = default;
        s.Next = _free;
        _free = slot;
        _count--;
    }

    private void Append(int slot, int transmits)
    {
        if (transmits >= _tail.Length)
        {
            int old = _tail.Length, size = Math.Max(8, transmits + 1);
            Array.Resize(ref _head, size);
            Array.Resize(ref _tail, size);
            _head.AsSpan(old).Fill(None);
            _tail.AsSpan(old).Fill(None);
        }
        ref Slot s = ref _slots[slot];
        s.Prev = _tail[transmits];
        s.Next = None;
        if (s.Prev != None) _slots[s.Prev].Next = slot;
        else _head[transmits] = slot;
        _tail[transmits] = slot;
    }

    private void Unlink(int slot)
    {
        ref Slot s = ref _slots[slot];
        int t = s.Transmits;
        if (s.Prev != None) _slots[s.Prev].Next = s.Next;
        else _head[t] = s.Next;
        if (s.Next != None) _slots[s.Next].Prev = s.Prev;
        else _tail[t] = s.Prev;
    }

    private struct Slot
    {
        public Rumour Rumour;
        public int Prev, Next; // neighbours on the list of rumours sent as often (Next: the free list when not live)
        public byte Transmits; // bounded by the retransmit limit, far below 255
    }
}
