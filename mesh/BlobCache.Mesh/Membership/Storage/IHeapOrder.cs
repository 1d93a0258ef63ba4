namespace BlobCache.Mesh.Membership;

/// <summary>
/// How an <see cref="IndexedHeap"/> orders the items it holds, and where each item keeps its place in the heap.
/// Implement it on a struct over the items' own array: the heap's methods take it as a struct type argument, so the
/// calls are direct and inlined.
/// </summary>
internal interface IHeapOrder
{
    /// <summary>True when item <paramref name="a"/> comes out before item <paramref name="b"/>.</summary>
    bool Before(int a, int b);

    /// <summary>The item's place in the heap, kept with the item.</summary>
    ref int PlaceOf(int item);
}
