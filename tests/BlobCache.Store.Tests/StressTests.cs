using BlobCache.Store;

namespace BlobCache.Store.Tests;

public class StressTests
{
    private static int SizeOf(in ChunkId id) => 2048 + (int)(id.Index % 7 * 1500);

    [Fact]
    public async Task Concurrent_puts_and_gets_always_return_the_right_bytes()
    {
        using var dir = new TempDir();
        const long MemoryCap = 96 * 1024, DiskCap = 512 * 1024;
        using var store = new ChunkStore(new ChunkStoreOptions { MemoryBytes = MemoryCap, DiskBytes = DiskCap, Directory = dir.Path });
        const int Threads = 4, Ops = 1000;
        int wrong = 0;
        long reads = 0;
        var threads = Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
        {
            var rng = new Random(t);
            for (int i = 0; i < Ops; i++)
            {
                // Skewed: a few ids are hot, most are rare, so both tiers and both queues see traffic.
                ChunkId id = Chunks.Id(rng.Next(4) == 0 ? rng.Next(300) : rng.Next(20));
                Interlocked.Increment(ref reads);
                if (store.TryGet(id, out ChunkBuffer? c, out _))
                {
                    if (!Chunks.Matches(id, c!.Span, SizeOf(id)) || !c.Verify(c.Checksum))
                        Interlocked.Increment(ref wrong);
                    c.Release();
                }
                else
                {
                    Chunks.PutNew(store, id, SizeOf(id));
                }
                if (i % 100 == 0)
                    Assert.True(store.Stats.MemoryBytes <= MemoryCap);
            }
        })).ToArray();
        await Task.WhenAll(threads);
        await store.FlushAsync();

        ChunkStoreStats s = store.Stats;
        Assert.Equal(0, wrong);
        Assert.Equal(reads, s.MemoryHits + s.DiskHits + s.Misses);
        Assert.True(s.MemoryBytes <= MemoryCap);
        Assert.True(s.DiskBytes <= DiskCap);
        Assert.Equal(0, s.CorruptFiles);
        Assert.Equal(0, s.DiskWriteErrors);
        Assert.True(s.MemoryHits > 0 && s.DiskHits > 0, s.ToString());
        Assert.Equal(s.DiskChunks, dir.ChunkFiles().Length);
    }
}
