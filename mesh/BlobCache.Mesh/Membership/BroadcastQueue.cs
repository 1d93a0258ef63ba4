using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

/// <summary>
/// Rumours waiting to be piggy-backed. Each is sent up to a retransmit limit (λ·log10(N+1)); the least-sent go
/// first (the most recently queued first among equals), and a newer rumour about a member replaces the older one.
/// </summary>
/// <remarks>
/// Rumours live in one array of reference-free structs (<see cref="Rumour"/>: directory handles and a cached size),
/// bucketed by how often they were sent, with a member → slot map; no object per rumour and no tree, because in
/// a wave of crashes every node holds thousands of them (and the simulator holds 100,000 nodes), and arrays
/// without references cost the garbage collector nothing to scan. Filling a packet stops after a run of rumours
/// that do not fit, instead of scanning the whole queue for a small one.
/// </remarks>
public sealed class BroadcastQueue(MemberDirectory directory)
{
    private const int GiveUpAfterMisses = 8;
    private Slot[] _slots = new Slot[8];
    private readonly Stack<int> _free = new();
    private IntMap<int> _byMember;
    private readonly List<List<int>> _buckets = [];  // transmits → slot indexes, oldest first
    private readonly List<int> _taken = [];
    private int _count, _highWater;

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
        int slot = _free.Count > 0 ? _free.Pop() : Grow();
        _slots[slot] = new Slot { Rumour = rumour, Transmits = 0, Live = true };
        _byMember.Set(rumour.Member, slot);
        Bucket(0).Add(slot);
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
        for (int t = 0; t < _buckets.Count && misses < GiveUpAfterMisses; t++)
        {
            List<int> bucket = _buckets[t];
            for (int i = bucket.Count - 1; i >= 0 && misses < GiveUpAfterMisses; i--)
            {
                int slot = bucket[i];
                ref Slot s = ref _slots[slot];
                if (!s.Live || s.Transmits != t) continue; // stale entry of a replaced or moved rumour
                if (used + s.Rumour.Size > budgetBytes)
                {
                    misses++;
                    continue;
                }
                used += s.Rumour.Size;
                misses = 0;
                _taken.Add(slot);
                if (budgetBytes - used < GossipCodecSizes.SmallestUpdate) misses = GiveUpAfterMisses;
            }
        }
        foreach (int slot in _taken)
        {
            ref Slot s = ref _slots[slot];
            into.Add(s.Rumour);
            s.Transmits++;
            if (s.Transmits >= retransmitLimit) Retire(slot);
            else Bucket(s.Transmits).Add(slot);
        }
        Compact();
    }

    private void Retire(int slot)
    {
        ref Slot s = ref _slots[slot];
        _byMember.Remove(s.Rumour.Member);
        s.Live = false;
        _count--;
        // The slot is reused only after its stale bucket entries are gone (see Compact).
        s.PendingFree = true;
    }

    /// <summary>Drops stale entries from the buckets and frees retired slots, once stale entries dominate.</summary>
    private void Compact()
    {
        int entries = 0;
        foreach (List<int> b in _buckets) entries += b.Count;
        if (entries < 64 || entries < 2 * _count) return;
        for (int t = 0; t < _buckets.Count; t++)
        {
            int transmits = t;
            List<int> bucket = _buckets[t];
            bucket.RemoveAll(slot => !_slots[slot].Live || _slots[slot].Transmits != transmits);
            // A burst of rumours grew the lists; give the memory back once it has passed.
            if (bucket.Capacity > 4 * bucket.Count + 16) bucket.Capacity = bucket.Count;
        }
        for (int i = 0; i < _highWater; i++)
        {
            if (!_slots[i].PendingFree) continue;
            _slots[i].PendingFree = false;
            _free.Push(i);
        }
    }

    private List<int> Bucket(int transmits)
    {
        while (_buckets.Count <= transmits) _buckets.Add([]);
        return _buckets[transmits];
    }

    private int Grow()
    {
        if (_highWater == _slots.Length) Array.Resize(ref _slots, _slots.Length * 2);
        return _highWater++;
    }

    private struct Slot
    {
        public Rumour Rumour;
        public byte Transmits; // bounded by the retransmit limit, far below 255
        public bool Live, PendingFree;
    }
}
