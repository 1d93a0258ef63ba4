namespace BlobCache.Mesh.Membership;

/// <summary>
/// A binary min-heap of item numbers in which every item knows its place (<see cref="IHeapOrder.PlaceOf"/>), so an
/// item whose key changes moves in place and any item leaves at once, with no search and no stale entries. The items
/// themselves live in the owner's array; the heap holds 4 bytes per item. A mutable struct: keep it in a field and
/// call it through the field.
/// </summary>
internal struct IndexedHeap
{
    private int[] _heap;
    private int _count;

    public IndexedHeap(int capacity) => _heap = new int[capacity];

    public readonly int Count => _count;

    /// <summary>The first item out (only when <see cref="Count"/> is positive).</summary>
    public readonly int First => _heap[0];

    public readonly long ArrayBytes => (long)_heap.Length * sizeof(int);

    /// <summary>Makes room for <paramref name="capacity"/> items (see <see cref="Arrays.Grow{T}"/>).</summary>
    public void Grow(int capacity) => Arrays.Grow(ref _heap, capacity);

    /// <summary>Adds <paramref name="item"/>, whose order is already readable through <paramref name="order"/>.</summary>
    public void Add<TOrder>(int item, TOrder order) where TOrder : struct, IHeapOrder
    {
        int pos = _count++;
        Place(pos, item, order);
        SiftUp(pos, order);
    }

    /// <summary>Restores the order after <paramref name="item"/> moved earlier (its key decreased).</summary>
    public readonly void MovedEarlier<TOrder>(int item, TOrder order) where TOrder : struct, IHeapOrder => SiftUp(order.PlaceOf(item), order);

    /// <summary>Takes <paramref name="item"/> out: the last entry takes its place and moves up or down from there.</summary>
    public void Remove<TOrder>(int item, TOrder order) where TOrder : struct, IHeapOrder
    {
        int pos = order.PlaceOf(item);
        int last = --_count;
        if (pos == last) return;
        int moved = _heap[last];
        Place(pos, moved, order);
        SiftUp(pos, order);
        SiftDown(order.PlaceOf(moved), order);
    }

    /// <summary>Notes that the item numbered <paramref name="item"/> is now the one whose place <paramref name="order"/> gives (its owner moved it).</summary>
    public readonly void Renumbered<TOrder>(int item, TOrder order) where TOrder : struct, IHeapOrder => _heap[order.PlaceOf(item)] = item;

    private readonly void SiftUp<TOrder>(int pos, TOrder order) where TOrder : struct, IHeapOrder
    {
        int item = _heap[pos];
        while (pos > 0)
        {
            int parent = (pos - 1) / 2;
            if (!order.Before(item, _heap[parent])) break;
            Place(pos, _heap[parent], order);
            pos = parent;
        }
        Place(pos, item, order);
    }

    private readonly void SiftDown<TOrder>(int pos, TOrder order) where TOrder : struct, IHeapOrder
    {
        int item = _heap[pos];
        while (true)
        {
            int child = 2 * pos + 1;
            if (child >= _count) break;
            if (child + 1 < _count && order.Before(_heap[child + 1], _heap[child])) child++;
            if (!order.Before(_heap[child], item)) break;
            Place(pos, _heap[child], order);
            pos = child;
        }
        Place(pos, item, order);
    }

    private readonly void Place<TOrder>(int pos, int item, TOrder order) where TOrder : struct, IHeapOrder
    {
        _heap[pos] = item;
        order.PlaceOf(item) = pos;
    }
}
