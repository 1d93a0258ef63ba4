using BlobCache.Store;

namespace BlobCache.Store.Tests;

public class DiscardTests
{
    private const int Size = 4096;

    [Fact]
    public async Task A_discarded_chunk_leaves_memory_and_disk_and_a_new_copy_can_take_its_place()
    {
        using var dir = new TempDir();
        ChunkId id = Chunks.Id(0), other = Chunks.Id(1);
        using (var store = new ChunkStore(new ChunkStoreOptions { MemoryBytes = 1 << 20, DiskBytes = 1 << 20, Directory = dir.Path }))
        {
            Chunks.PutNew(store, id, 1); // not what id names: one byte where a reader expects Size
            Chunks.PutNew(store, other, Size);
            await store.FlushAsync();
            Assert.True(store.TryGet(id, out ChunkBuffer? held, out _));

            store.Discard(id);
            Assert.False(store.Contains(id));
            Assert.False(store.TryGet(id, out _, out _));
            Assert.Single(dir.ChunkFiles());
            Assert.Equal(1, held!.Length); // a reader that held it keeps its reference
            held.Release();

            Chunks.PutNew(store, id, Size);
            await store.FlushAsync();
            Assert.Equal(2, dir.ChunkFiles().Length);
        }
        // After a restart the store finds the new copy, never the discarded one.
        using var again = new ChunkStore(new ChunkStoreOptions { MemoryBytes = 0, DiskBytes = 1 << 20, Directory = dir.Path });
        Assert.True(again.TryGet(id, out ChunkBuffer? c, out ChunkTier tier));
        Assert.Equal(ChunkTier.Disk, tier);
        Assert.True(Chunks.Matches(id, c!.Span, Size));
        c.Release();
    }
}
