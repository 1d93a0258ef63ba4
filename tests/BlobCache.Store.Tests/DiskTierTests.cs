using BlobCache.Store;

namespace BlobCache.Store.Tests;

public class DiskTierTests
{
    private const int Size = 4096;

    // No memory tier: every read goes to the files.
    private static ChunkStore DiskOnly(TempDir dir, long diskBytes = 1 << 20) =>
        new(new ChunkStoreOptions { MemoryBytes = 0, DiskBytes = diskBytes, Directory = dir.Path });

    private static string FileOf(TempDir dir, in ChunkId id) => ChunkFile.PathFor(dir.Path, id.Hash);

    [Fact]
    public async Task A_chunk_evicted_from_memory_is_read_back_from_disk_and_promoted()
    {
        using var dir = new TempDir();
        using var store = new ChunkStore(new ChunkStoreOptions { MemoryBytes = Size, DiskBytes = 1 << 20, Directory = dir.Path });
        ChunkId a = Chunks.Id(0), b = Chunks.Id(1);
        Chunks.PutNew(store, a, Size);
        Chunks.PutNew(store, b, Size);
        await store.FlushAsync();
        Assert.Equal(1, store.Stats.MemoryChunks);   // only b is left in memory
        Assert.Equal(2, store.Stats.DiskChunks);

        Assert.True(store.TryGet(a, out ChunkBuffer? c, out ChunkTier tier));
        Assert.Equal(ChunkTier.Disk, tier);
        Assert.True(Chunks.Matches(a, c!.Span, Size));
        Assert.True(c.Verify(c.Checksum));
        c.Release();

        Assert.True(store.TryGet(a, out c, out tier));
        Assert.Equal(ChunkTier.Memory, tier);
        c!.Release();
        ChunkStoreStats s = store.Stats;
        Assert.Equal(1, s.DiskHits);
        Assert.Equal(1, s.MemoryHits);
        Assert.Equal(0, s.CorruptFiles);
    }

    [Fact]
    public async Task Without_a_memory_tier_a_chunk_is_readable_while_its_file_is_still_queued()
    {
        using var dir = new TempDir();
        using ChunkStore store = DiskOnly(dir, diskBytes: 64L << 20);
        // 1 MiB chunks read back at once: the writer is usually still busy with one of them. Each read must hit
        // (the queued buffer or the finished file), never miss and send the reader to the origin again.
        const int big = 1 << 20;
        for (int i = 0; i < 32; i++)
        {
            ChunkId id = Chunks.Id(i, "queued");
            Chunks.PutNew(store, id, big);
            Assert.True(store.Contains(id), $"chunk {i} not found right after Put");
            Assert.True(store.TryGet(id, out ChunkBuffer? c, out _), $"chunk {i} missed right after Put");
            Assert.True(Chunks.Matches(id, c!.Span, big));
            c.Release();
        }
        Assert.Equal(0, store.Stats.Misses);
        await store.FlushAsync();
        Assert.Equal(32, store.Stats.DiskChunks);
        for (int i = 0; i < 32; i++)
        {
            ChunkId id = Chunks.Id(i, "queued");
            Assert.True(store.TryGet(id, out ChunkBuffer? c, out ChunkTier tier));
            Assert.Equal(ChunkTier.Disk, tier);
            Assert.True(Chunks.Matches(id, c!.Span, big));
            c.Release();
        }
    }

    /// <summary>
    /// A burst of fills larger than the disk writer's queue (64 MiB) into a memory tier of two chunks: the chunks
    /// that found the queue full are written as memory evicts them, so every one stays readable (no second origin
    /// read) and none is counted as dropped.
    /// </summary>
    [Fact]
    public async Task Chunks_whose_write_found_the_queue_full_are_written_as_memory_evicts_them()
    {
        using var dir = new TempDir();
        const int big = 4 << 20, count = 24;
        using var store = new ChunkStore(new ChunkStoreOptions { MemoryBytes = 2 * big, DiskBytes = 256L << 20, Directory = dir.Path });
        // Made first, put in one tight loop: the writer is still on the first file when the queue fills.
        ChunkBuffer[] burst = Enumerable.Range(0, count).Select(i => Chunks.Make(Chunks.Id(i, "burst"), big)).ToArray();
        for (int i = 0; i < count; i++)
        {
            store.Put(Chunks.Id(i, "burst"), burst[i]);
            burst[i].Release();
        }
        await store.FlushAsync();
        for (int i = 0; i < count; i++)
        {
            ChunkId id = Chunks.Id(i, "burst");
            Assert.True(store.TryGet(id, out ChunkBuffer? c, out _), $"chunk {i} of the burst is gone");
            Assert.True(Chunks.Matches(id, c!.Span, big));
            c.Release();
        }
        Assert.Equal(0, store.Stats.DiskWritesDropped);
        Assert.Equal(0, store.Stats.Misses);
    }

    [Fact]
    public async Task Restart_rebuilds_the_index()
    {
        using var dir = new TempDir();
        using (ChunkStore first = DiskOnly(dir))
        {
            for (int i = 0; i < 10; i++)
                Chunks.PutNew(first, Chunks.Id(i), Size + i);
            await first.FlushAsync();
        }
        File.WriteAllText(Path.Combine(dir.Path, "README.txt"), "not a chunk");   // foreign files are left alone

        using ChunkStore second = DiskOnly(dir);
        ChunkStoreStats s = second.Stats;
        Assert.Equal(10, s.DiskChunks);
        Assert.Equal(0, s.CorruptFiles);
        Assert.Equal(dir.ChunkFiles().Sum(f => new FileInfo(f).Length), s.DiskBytes);
        for (int i = 0; i < 10; i++)
        {
            Assert.True(second.TryGet(Chunks.Id(i), out ChunkBuffer? c, out ChunkTier tier));
            Assert.Equal(ChunkTier.Disk, tier);
            Assert.True(Chunks.Matches(Chunks.Id(i), c!.Span, Size + i));
            c.Release();
        }
        Assert.True(File.Exists(Path.Combine(dir.Path, "README.txt")));
    }

    [Fact]
    public async Task Rebuild_enforces_a_smaller_capacity_by_dropping_the_oldest_files()
    {
        using var dir = new TempDir();
        long fileSize;
        using (ChunkStore first = DiskOnly(dir))
        {
            for (int i = 0; i < 10; i++)
                Chunks.PutNew(first, Chunks.Id(i), Size);
            await first.FlushAsync();
            fileSize = first.Stats.DiskBytes / 10;
        }
        var t0 = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        for (int i = 0; i < 10; i++)
            File.SetLastWriteTimeUtc(FileOf(dir, Chunks.Id(i)), t0.AddMinutes(i));

        using ChunkStore second = DiskOnly(dir, diskBytes: 4 * fileSize);
        ChunkStoreStats s = second.Stats;
        Assert.Equal(4, s.DiskChunks);
        Assert.Equal(6, s.DiskEvictions);
        Assert.Equal(4, dir.ChunkFiles().Length);
        for (int i = 0; i < 10; i++)
            Assert.Equal(i >= 6, second.Contains(Chunks.Id(i)));
    }

    [Fact]
    public async Task Disk_capacity_is_never_exceeded()
    {
        using var dir = new TempDir();
        const long Cap = 64 * 1024;
        using ChunkStore store = DiskOnly(dir, Cap);
        var rng = new Random(3);
        for (int i = 0; i < 200; i++)
        {
            Chunks.PutNew(store, Chunks.Id(i), 500 + rng.Next(6000));
            if (i % 20 == 19)
            {
                await store.FlushAsync();
                long onDisk = dir.ChunkFiles().Sum(f => new FileInfo(f).Length);
                ChunkStoreStats s = store.Stats;
                Assert.True(s.DiskBytes <= Cap, $"{s.DiskBytes} > {Cap}");
                Assert.Equal(s.DiskBytes, onDisk);
                Assert.Equal(s.DiskChunks, dir.ChunkFiles().Length);
            }
        }
        Assert.True(store.Stats.DiskEvictions > 0);
    }

    public enum Damage { FlipDataByte, FlipHeaderByte, Truncate, Garbage, Empty }

    [Theory]
    [InlineData(Damage.FlipDataByte)]
    [InlineData(Damage.FlipHeaderByte)]
    [InlineData(Damage.Truncate)]
    [InlineData(Damage.Garbage)]
    [InlineData(Damage.Empty)]
    public async Task A_damaged_file_is_a_miss_is_counted_and_is_deleted(Damage damage)
    {
        using var dir = new TempDir();
        using ChunkStore store = DiskOnly(dir);
        ChunkId a = Chunks.Id(0);
        Chunks.PutNew(store, a, Size);
        await store.FlushAsync();
        string path = FileOf(dir, a);
        Harm(path, damage);

        Assert.False(store.TryGet(a, out ChunkBuffer? c, out _));
        Assert.Null(c);
        ChunkStoreStats s = store.Stats;
        Assert.Equal(1, s.CorruptFiles);
        Assert.Equal(1, s.Misses);
        Assert.Equal(0, s.DiskChunks);
        Assert.False(File.Exists(path));

        // The next Put writes a good copy again.
        Chunks.PutNew(store, a, Size);
        await store.FlushAsync();
        Assert.True(store.TryGet(a, out c, out _));
        Assert.True(Chunks.Matches(a, c!.Span, Size));
        c.Release();
    }

    [Theory]
    [InlineData(Damage.FlipHeaderByte)]
    [InlineData(Damage.Truncate)]
    [InlineData(Damage.Garbage)]
    [InlineData(Damage.Empty)]
    public async Task A_damaged_file_is_dropped_at_rebuild(Damage damage)
    {
        using var dir = new TempDir();
        using (ChunkStore first = DiskOnly(dir))
        {
            for (int i = 0; i < 3; i++)
                Chunks.PutNew(first, Chunks.Id(i), Size);
            await first.FlushAsync();
        }
        string bad = FileOf(dir, Chunks.Id(1));
        Harm(bad, damage);
        string leftover = FileOf(dir, Chunks.Id(2)) + ".tmp";
        File.WriteAllBytes(leftover, new byte[100]);   // a write the last process did not finish

        using ChunkStore second = DiskOnly(dir);
        ChunkStoreStats s = second.Stats;
        Assert.Equal(2, s.DiskChunks);
        Assert.Equal(1, s.CorruptFiles);
        Assert.False(File.Exists(bad));
        Assert.False(File.Exists(leftover));
        Assert.False(second.TryGet(Chunks.Id(1), out _, out _));
    }

    [Fact]
    public async Task A_valid_file_under_the_wrong_name_is_dropped_at_rebuild()
    {
        using var dir = new TempDir();
        using (ChunkStore first = DiskOnly(dir))
        {
            Chunks.PutNew(first, Chunks.Id(0), Size);
            await first.FlushAsync();
        }
        string wrong = FileOf(dir, Chunks.Id(99));
        Directory.CreateDirectory(Path.GetDirectoryName(wrong)!);
        File.Move(FileOf(dir, Chunks.Id(0)), wrong);

        using ChunkStore second = DiskOnly(dir);
        Assert.Equal(0, second.Stats.DiskChunks);
        Assert.Equal(1, second.Stats.CorruptFiles);
        Assert.False(File.Exists(wrong));
    }

    [Fact]
    public async Task A_directory_path_that_is_a_file_does_not_throw_and_counts_errors()
    {
        using var dir = new TempDir();
        string notADirectory = Path.Combine(dir.Path, "occupied");
        File.WriteAllText(notADirectory, "x");
        using var store = new ChunkStore(new ChunkStoreOptions { MemoryBytes = 1 << 20, DiskBytes = 1 << 20, Directory = notADirectory });
        ChunkId a = Chunks.Id(0);
        Chunks.PutNew(store, a, Size);
        await store.FlushAsync();
        Assert.Equal(1, store.Stats.DiskWriteErrors);
        Assert.Equal(0, store.Stats.DiskChunks);
        Assert.True(store.TryGet(a, out ChunkBuffer? c, out ChunkTier tier));   // memory still serves
        Assert.Equal(ChunkTier.Memory, tier);
        c!.Release();
    }

    [Fact]
    public async Task A_blocked_fan_out_directory_counts_a_write_error_and_later_writes_still_work()
    {
        using var dir = new TempDir();
        using ChunkStore store = DiskOnly(dir);
        ChunkId blocked = Chunks.Id(0);
        string fanOut = Path.GetDirectoryName(FileOf(dir, blocked))!;
        Directory.CreateDirectory(Path.GetDirectoryName(fanOut)!);
        File.WriteAllText(fanOut, "in the way");   // a file where the subdirectory should be

        Chunks.PutNew(store, blocked, Size);
        ChunkId other = Enumerable.Range(1, 100).Select(i => Chunks.Id(i))
            .First(id => Path.GetDirectoryName(FileOf(dir, id)) != fanOut);
        Chunks.PutNew(store, other, Size);
        await store.FlushAsync();

        ChunkStoreStats s = store.Stats;
        Assert.Equal(1, s.DiskWriteErrors);
        Assert.Equal(1, s.DiskChunks);
        Assert.False(store.Contains(blocked));
        Assert.True(store.TryGet(other, out ChunkBuffer? c, out _));
        c!.Release();
    }

    private static void Harm(string path, Damage damage)
    {
        byte[] bytes = File.ReadAllBytes(path);
        switch (damage)
        {
            case Damage.FlipDataByte:
                bytes[^100] ^= 0x01;
                File.WriteAllBytes(path, bytes);
                break;
            case Damage.FlipHeaderByte:
                bytes[30] ^= 0x80;
                File.WriteAllBytes(path, bytes);
                break;
            case Damage.Truncate:
                File.WriteAllBytes(path, bytes[..^10]);
                break;
            case Damage.Garbage:
                new Random(5).NextBytes(bytes);
                File.WriteAllBytes(path, bytes);
                break;
            case Damage.Empty:
                File.WriteAllBytes(path, []);
                break;
        }
    }
}
