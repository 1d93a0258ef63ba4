using BlobCache.Mesh.Membership;

namespace BlobCache.Mesh.Tests.Membership;

public class IndexedHeapTests
{
    private readonly struct ByKey(long[] keys, int[] places) : IHeapOrder
    {
        public bool Before(int a, int b) => keys[a] < keys[b] || (keys[a] == keys[b] && a < b);

        public ref int PlaceOf(int item) => ref places[item];
    }

    [Fact]
    public void Items_come_out_earliest_first_after_keys_move_earlier_and_items_leave_from_the_middle()
    {
        const int n = 500;
        long[] keys = new long[n];
        int[] places = new int[n];
        var order = new ByKey(keys, places);
        var heap = new IndexedHeap(4);
        heap.Grow(n); // the owner makes room before adding
        var random = new DeterministicRandom(5);
        var model = new SortedSet<(long Key, int Item)>();
        for (int item = 0; item < n; item++)
        {
            keys[item] = random.Next(10_000);
            heap.Add(item, order);
            model.Add((keys[item], item));
        }
        // Every step moves one item earlier or takes it out, until none is left.
        for (int step = 0; step < 10 * n && model.Count > 0; step++)
        {
            (long key, int item) = model.ElementAt(random.Next(model.Count));
            model.Remove((key, item));
            if (random.Next(2) == 0)
            {
                keys[item] = key - random.Next(5_000);
                heap.MovedEarlier(item, order);
                model.Add((keys[item], item));
            }
            else heap.Remove(item, order);
            Assert.Equal(model.Count, heap.Count);
            if (model.Count > 0) Assert.Equal(model.Min.Item, heap.First);
        }
    }
}
