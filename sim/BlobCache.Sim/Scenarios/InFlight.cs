namespace BlobCache.Sim.Scenarios;

/// <summary>
/// What nodes have in flight, one per (node, item) — a node's fetch of a chunk, its lookup of a blob's properties —
/// single-flight and pooled: a second asker joins the one in flight, and a finished one is reused, so a simulation of
/// millions of reads allocates one per thing in flight at once, not one per read. Ids stay valid until released.
/// </summary>
internal sealed class InFlight<T>(Func<int, T> create) where T : class
{
    private readonly Dictionary<long, int> _of = [];
    private readonly List<T> _items = [];
    private readonly Stack<int> _free = new();

    public T this[int id] => _items[id];

    /// <summary>The one in flight for (<paramref name="node"/>, <paramref name="item"/>), or a free one taken for it (<paramref name="started"/>: the caller resets and starts it).</summary>
    public T GetOrStart(int node, int item, out bool started)
    {
        long key = Key(node, item);
        started = !_of.TryGetValue(key, out int id);
        if (!started) return _items[id];
        if (!_free.TryPop(out id))
        {
            id = _items.Count;
            _items.Add(create(id));
        }
        _of[key] = id;
        return _items[id];
    }

    /// <summary>Done: the next asker for (<paramref name="node"/>, <paramref name="item"/>) starts anew, and <paramref name="id"/> is reused.</summary>
    public void Release(int node, int item, int id)
    {
        _of.Remove(Key(node, item));
        _free.Push(id);
    }

    private static long Key(int node, int item) => (long)node << 32 | (uint)item;
}
