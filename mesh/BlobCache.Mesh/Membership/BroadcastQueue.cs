using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

/// <summary>
/// Rumours waiting to be piggy-backed. Each is sent up to a retransmit limit (λ·log10(N+1)); the least-sent
/// (newest first among equals) go first, and a newer rumour about a member replaces the older one.
/// </summary>
public sealed class BroadcastQueue
{
    private readonly SortedSet<Item> _items = new(ItemOrder.Instance);
    private readonly Dictionary<int, Item> _byMember = [];
    private readonly List<Item> _scratch = [];
    private long _nextId;

    public int Count => _items.Count;

    /// <summary>Queues a rumour about <paramref name="member"/>, dropping any older one about the same member.</summary>
    public void Enqueue(int member, MemberUpdate update)
    {
        if (_byMember.Remove(member, out Item? old)) _items.Remove(old);
        var item = new Item(member, update, GossipCodecSizes.Update(update), ++_nextId);
        _items.Add(item);
        _byMember.Add(member, item);
    }

    /// <summary>True when a rumour about <paramref name="member"/> is still queued.</summary>
    public bool Contains(int member) => _byMember.ContainsKey(member);

    /// <summary>How many times the queued rumour about <paramref name="member"/> has been sent (0 when none).</summary>
    public int TransmitsOf(int member) => _byMember.TryGetValue(member, out Item? item) ? item.Transmits : 0;

    /// <summary>
    /// Appends as many rumours as fit in <paramref name="budgetBytes"/> to <paramref name="into"/>, counts a
    /// transmission for each, and retires those that reached <paramref name="retransmitLimit"/>.
    /// </summary>
    public void Take(int budgetBytes, int retransmitLimit, List<MemberUpdate> into)
    {
        if (_items.Count == 0 || budgetBytes <= 0) return;
        _scratch.Clear();
        int used = 0;
        foreach (Item item in _items)
        {
            if (used + item.Size > budgetBytes) continue;
            used += item.Size;
            _scratch.Add(item);
            if (budgetBytes - used < GossipCodecSizes.SmallestUpdate) break;
        }
        foreach (Item item in _scratch)
        {
            into.Add(item.Update);
            _items.Remove(item);
            item.Transmits++;
            if (item.Transmits >= retransmitLimit) _byMember.Remove(item.Member);
            else _items.Add(item);
        }
    }

    private sealed class Item(int member, MemberUpdate update, int size, long id)
    {
        public readonly int Member = member;
        public readonly MemberUpdate Update = update;
        public readonly int Size = size;
        public readonly long Id = id;
        public int Transmits;
    }

    private sealed class ItemOrder : IComparer<Item>
    {
        public static readonly ItemOrder Instance = new();

        public int Compare(Item? x, Item? y)
        {
            if (ReferenceEquals(x, y)) return 0;
            int c = x!.Transmits.CompareTo(y!.Transmits);
            return c != 0 ? c : y.Id.CompareTo(x.Id); // newer first
        }
    }
}
