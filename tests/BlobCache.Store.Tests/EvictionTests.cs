using BlobCache.Store;

namespace BlobCache.Store.Tests;

public class EvictionTests
{
    private const int Size = 1024;

    /// <summary>
    /// 40 hot chunks read round-robin while two one-time chunks stream past per read. A hot chunk comes back after
    /// ~80 one-time chunks plus the other hot ones, more than the 100 a plain FIFO of this size holds, so FIFO
    /// never keeps one; S3-FIFO lets the one-timers drain through its small queue and keeps the hot set in main.
    /// </summary>
    [Fact]
    public void S3Fifo_keeps_a_hot_set_through_a_scan_that_flushes_plain_fifo()
    {
        using var store = new ChunkStore(new ChunkStoreOptions { MemoryBytes = 100 * Size, DiskBytes = 0 });
        var fifo = new FifoModel(100);
        int storeHotHits = 0, fifoHotHits = 0, hotReads = 0;
        long scan = 0;
        const int Steps = 4000;
        for (int step = 0; step < Steps; step++)
        {
            ChunkId hot = Chunks.Id(step % 40, "hot");
            bool measured = step >= Steps / 2;   // after warm-up
            if (measured)
                hotReads++;
            if (Read(store, hot))
            {
                if (measured)
                    storeHotHits++;
            }
            if (fifo.Access(hot) && measured)
                fifoHotHits++;
            for (int k = 0; k < 2; k++)
            {
                ChunkId once = Chunks.Id(scan++, "scan");
                Read(store, once);
                fifo.Access(once);
            }
            Assert.True(store.Stats.MemoryBytes <= 100 * Size);
        }
        Assert.True(storeHotHits >= hotReads * 0.95, $"S3-FIFO hot hits {storeHotHits}/{hotReads}");
        Assert.True(fifoHotHits <= hotReads * 0.05, $"FIFO hot hits {fifoHotHits}/{hotReads}");
    }

    [Fact]
    public void A_key_back_from_the_ghost_goes_to_main()
    {
        var policy = new S3Fifo<int>(100);
        var evicted = new List<KeyValuePair<ChunkId, int>>();
        policy.TryAdd(Chunks.Id(0), 0, 10, evicted);
        for (int i = 1; i <= 10; i++)
            policy.TryAdd(Chunks.Id(i), i, 10, evicted);
        Assert.Equal(Chunks.Id(0), Assert.Single(evicted).Key);   // oldest one-timer out of small, into the ghost
        Assert.True(policy.InGhost(Chunks.Id(0)));
        evicted.Clear();

        policy.TryAdd(Chunks.Id(0), 0, 10, evicted);   // seen again: main
        Assert.False(policy.InGhost(Chunks.Id(0)));
        for (int i = 11; i <= 30; i++)
            policy.TryAdd(Chunks.Id(i), i, 10, evicted);
        Assert.True(policy.Contains(Chunks.Id(0)));    // the small queue churned, main kept it
        Assert.True(policy.Bytes <= 100);
    }

    [Fact]
    public void Main_gives_read_entries_a_second_chance_where_fifo_would_evict_the_oldest()
    {
        var policy = new S3Fifo<int>(100);
        var evicted = new List<KeyValuePair<ChunkId, int>>();
        for (int i = 0; i < 10; i++)
            policy.TryAdd(Chunks.Id(i), i, 10, evicted, toMain: true);
        for (int i = 0; i < 5; i++)
            Assert.True(policy.TryGet(Chunks.Id(i), out _));

        policy.TryAdd(Chunks.Id(10), 10, 10, evicted);
        // Plain FIFO would drop 0, the oldest; 0..4 were read, so the first unread one goes.
        Assert.Equal(Chunks.Id(5), Assert.Single(evicted).Key);
        for (int i = 0; i < 5; i++)
            Assert.True(policy.Contains(Chunks.Id(i)));
    }

    [Fact]
    public void Entries_larger_than_the_capacity_are_refused()
    {
        var policy = new S3Fifo<int>(100);
        var evicted = new List<KeyValuePair<ChunkId, int>>();
        Assert.False(policy.TryAdd(Chunks.Id(0), 0, 101, evicted));
        Assert.True(policy.TryAdd(Chunks.Id(1), 1, 100, evicted));
        Assert.False(policy.TryAdd(Chunks.Id(1), 1, 1, evicted));   // present
    }

    [Fact]
    public void Memory_capacity_is_never_exceeded()
    {
        const long Cap = 64 * 1024;
        using var store = new ChunkStore(new ChunkStoreOptions { MemoryBytes = Cap, DiskBytes = 0 });
        var rng = new Random(7);
        for (int i = 0; i < 600; i++)
        {
            ChunkId id = Chunks.Id(rng.Next(150));
            if (store.TryGet(id, out ChunkBuffer? c, out _))
                c!.Release();
            else
                Chunks.PutNew(store, id, 1000 + rng.Next(8000));
            ChunkStoreStats s = store.Stats;
            Assert.True(s.MemoryBytes <= Cap, $"{s.MemoryBytes} > {Cap}");
        }
        Assert.True(store.Stats.MemoryEvictions > 0);
    }

    [Fact]
    public void Eviction_leaves_buffers_held_by_others_intact()
    {
        using var store = new ChunkStore(new ChunkStoreOptions { MemoryBytes = 2 * Size, DiskBytes = 0 });
        ChunkId a = Chunks.Id(0);
        ChunkBuffer mine = Chunks.Make(a, Size);
        store.Put(a, mine);
        Assert.Equal(2, mine.RefCount);   // creator + store

        // Never read, so it leaves from the small queue as the next chunks arrive.
        for (int i = 1; i <= 4; i++)
            Chunks.PutNew(store, Chunks.Id(i), Size);
        Assert.False(store.Contains(a));
        Assert.Equal(1, mine.RefCount);   // the store let go; the creator's reference remains
        Assert.True(Chunks.Matches(a, mine.Span, Size));
        mine.Release();
        Assert.False(mine.TryAddRef());
    }

    [Fact]
    public void A_reader_reference_outlives_the_store()
    {
        var store = new ChunkStore(new ChunkStoreOptions { MemoryBytes = 2 * Size, DiskBytes = 0 });
        ChunkId a = Chunks.Id(0);
        Chunks.PutNew(store, a, Size);
        Assert.True(store.TryGet(a, out ChunkBuffer? held, out ChunkTier tier));
        Assert.Equal(ChunkTier.Memory, tier);
        Assert.Equal(2, held!.RefCount);   // store + reader
        store.Dispose();                   // releases the store's references
        Assert.Equal(1, held.RefCount);
        Assert.True(Chunks.Matches(a, held.Span, Size));
        held.Release();
        Assert.Throws<ObjectDisposedException>(() => held.Span.Length);
        Assert.Throws<ObjectDisposedException>(() => store.TryGet(a, out _, out _));
    }

    /// <summary>
    /// A chunk several readers got from the one fetch that brought it in has been read more than once, though only
    /// one lookup ever found it here: counted as such, it earns its place in main where a chunk read once leaves.
    /// </summary>
    [Fact]
    public void A_chunk_that_readers_shared_the_fetch_of_is_kept_where_a_chunk_read_once_is_evicted()
    {
        using var store = new ChunkStore(new ChunkStoreOptions { MemoryBytes = 20 * Size, DiskBytes = 0 });
        ChunkId shared = Chunks.Id(0, "shared"), once = Chunks.Id(0, "once");
        Chunks.PutNew(store, shared, Size);
        store.Touch(shared, reads: 3);
        Chunks.PutNew(store, once, Size);
        for (int i = 1; i <= 40; i++)
            Chunks.PutNew(store, Chunks.Id(i, "scan"), Size);
        Assert.True(store.Contains(shared));
        Assert.False(store.Contains(once));
    }

    [Fact]
    public void Putting_a_present_id_again_keeps_the_first_buffer()
    {
        using var store = new ChunkStore(new ChunkStoreOptions { MemoryBytes = 10 * Size, DiskBytes = 0 });
        ChunkId a = Chunks.Id(0);
        Chunks.PutNew(store, a, Size);
        ChunkBuffer second = Chunks.Make(a, Size);
        store.Put(a, second);
        Assert.Equal(1, second.RefCount);
        second.Release();
        Assert.Equal(1, store.Stats.MemoryChunks);
    }

    [Fact]
    public void A_memory_hit_allocates_nothing()
    {
        using var store = new ChunkStore(new ChunkStoreOptions { MemoryBytes = 10 * Size, DiskBytes = 0 });
        ChunkId a = Chunks.Id(0);
        Chunks.PutNew(store, a, Size);
        for (int i = 0; i < 10; i++)
            Read(store, a);   // warm up (JIT, tiering)
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            store.TryGet(a, out ChunkBuffer? c, out _);
            c!.Release();
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Unsealed_chunks_are_refused()
    {
        using var store = new ChunkStore(new ChunkStoreOptions { MemoryBytes = 10 * Size, DiskBytes = 0 });
        ChunkBuffer b = ChunkBuffer.Rent(Size);
        Assert.Throws<ArgumentException>(() => store.Put(Chunks.Id(0), b));
        b.Release();
    }

    private static bool Read(ChunkStore store, in ChunkId id)
    {
        if (store.TryGet(id, out ChunkBuffer? c, out _))
        {
            c!.Release();
            return true;
        }
        Chunks.PutNew(store, id, Size);
        return false;
    }

    private sealed class FifoModel(int capacity)
    {
        private readonly Queue<ChunkId> _order = new();
        private readonly HashSet<ChunkId> _present = [];

        public bool Access(ChunkId id)
        {
            if (_present.Contains(id))
                return true;
            if (_order.Count == capacity)
                _present.Remove(_order.Dequeue());
            _order.Enqueue(id);
            _present.Add(id);
            return false;
        }
    }
}
