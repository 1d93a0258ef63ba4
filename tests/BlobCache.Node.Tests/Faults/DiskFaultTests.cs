using BlobCache.Node.Hosting;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;
using Xunit.Abstractions;

namespace BlobCache.Node.Tests.Faults;

/// <summary>A disk tier with corrupted and truncated chunk files (while the node is stopped and while it runs), a small budget and a full disk.</summary>
[Collection(MeshCollection.Name)]
public sealed class DiskFaultTests(MeshFixture fixture, ITestOutputHelper output)
{
    private const int ChunkSize = 4 * 1024 * 1024;
    private static readonly string[] Blobs = ["big/nine.bin", "big/seventeen.bin"]; // 3 + 5 chunks

    private long ChunksOf(IEnumerable<string> names) => names.Sum(n => (fixture.Dataset.Lengths[n] + ChunkSize - 1) / ChunkSize);

    private async Task ReadAllAsync(ReadTally tally, NodeProcess node, IEnumerable<string> names)
    {
        foreach (string name in names) await tally.ReadAsync(node, Dataset.Container, name, fixture.Dataset.Sha256[name]);
    }

    /// <summary>Damages four chunk files four ways: a flipped data byte, cut in half, cut inside the header, overwritten with garbage.</summary>
    private static string[] Damage(string dir)
    {
        string[] files = Directory.GetFiles(dir, "*.chunk", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Take(4).ToArray();
        Assert.Equal(4, files.Length);
        using (var f = new FileStream(files[0], FileMode.Open, FileAccess.ReadWrite))
        {
            f.Position = f.Length / 2;
            int b = f.ReadByte();
            f.Position = f.Length / 2;
            f.WriteByte((byte)(b ^ 0x40));
        }
        using (var f = new FileStream(files[1], FileMode.Open, FileAccess.ReadWrite)) f.SetLength(f.Length / 2);
        using (var f = new FileStream(files[2], FileMode.Open, FileAccess.ReadWrite)) f.SetLength(10);
        byte[] garbage = new byte[new FileInfo(files[3]).Length];
        new Random(3).NextBytes(garbage);
        File.WriteAllBytes(files[3], garbage);
        return files;
    }

    [Fact]
    public async Task Chunk_files_damaged_while_the_node_is_stopped_are_dropped_and_refilled_never_served()
    {
        using var temp = new TempDir("blobcache-faults-disk-");
        string dir = temp.Path;
        var tally = new ReadTally();
        await using (NodeProcess first = NodeProcess.Start("dstop-a", fixture.Azurite.ConnectionString, [], "--cache-dir", dir))
        {
            await first.WaitReadyAsync(TimeSpan.FromSeconds(60));
            await ReadAllAsync(tally, first, Blobs);
            Assert.Equal(0, await first.StopAsync(TimeSpan.FromSeconds(30)));
        }
        Damage(dir);
        await using NodeProcess second = NodeProcess.Start("dstop-b", fixture.Azurite.ConnectionString, [], "--cache-dir", dir);
        await second.WaitReadyAsync(TimeSpan.FromSeconds(60));
        await ReadAllAsync(tally, second, Blobs);
        await ReadAllAsync(tally, second, Blobs); // and again, from memory and the repaired disk
        StatusReport s = await second.StatusAsync();
        Survivors.Say(output, $"stopped node, 4 of {ChunksOf(Blobs)} chunk files damaged: {s.CorruptFiles} bad files dropped, {s.BlobGets} chunks refilled from Blob, {s.ReadsBySource["disk"]} served from disk");
        tally.Report(output, "chunk files corrupted and truncated while the node was stopped");
        Assert.Equal(tally.Attempted, tally.Exact);
        Assert.Equal(4, s.CorruptFiles);
        Assert.Equal(4, s.BlobGets);
        Assert.Equal(ChunksOf(Blobs) - 4, s.ReadsBySource["disk"]);
        await Survivors.AssertAliveAsync([second]);
    }

    [Fact]
    public async Task Chunk_files_damaged_under_a_running_node_are_misses_counted_in_status_and_metrics()
    {
        using var temp = new TempDir("blobcache-faults-disk-");
        string dir = temp.Path;
        // No memory tier: every repeat read goes to the files.
        await using NodeProcess node = NodeProcess.Start("drun", fixture.Azurite.ConnectionString, [], "--cache-dir", dir, "--memory-mb", "0");
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
        var tally = new ReadTally();
        await ReadAllAsync(tally, node, Blobs);
        long chunks = ChunksOf(Blobs);
        await Wait.UntilAsync(async () => (await node.StatusAsync()).DiskChunks == chunks, TimeSpan.FromSeconds(30), "every chunk on disk");
        Damage(dir);
        await ReadAllAsync(tally, node, Blobs);
        StatusReport s = await node.StatusAsync();
        Assert.Equal(4, s.CorruptFiles);
        Assert.Equal(chunks + 4, s.BlobGets); // exactly the damaged chunks came from Blob again
        // Once the refilled chunks are written back, a third pass is all disk.
        await Wait.UntilAsync(async () => (await node.StatusAsync()).DiskChunks == chunks, TimeSpan.FromSeconds(30), "the refilled chunks on disk");
        await ReadAllAsync(tally, node, Blobs);
        s = await node.StatusAsync();
        using HttpResponseMessage m = await node.GetAsync("/metrics");
        string metrics = await m.Content.ReadAsStringAsync();
        Survivors.Say(output, $"running node, 4 of {chunks} chunk files damaged: {s.CorruptFiles} bad files dropped, {s.BlobGets - chunks} chunks refilled from Blob, {s.ReadsBySource["disk"]} disk hits");
        tally.Report(output, "chunk files corrupted and truncated under a running node");
        Assert.Equal(tally.Attempted, tally.Exact);
        Assert.Equal(4, s.CorruptFiles);
        Assert.Equal(chunks + 4, s.BlobGets);
        Assert.Contains("blobcache_disk_corrupt_files", metrics, StringComparison.Ordinal);
        await Survivors.AssertAliveAsync([node]);
    }

    [Fact]
    public async Task A_disk_budget_smaller_than_the_data_evicts_and_serves_byte_exact()
    {
        using var temp = new TempDir("blobcache-faults-disk-");
        string dir = temp.Path;
        await using NodeProcess node = NodeProcess.Start("dsmall", fixture.Azurite.ConnectionString, [], "--cache-dir", dir, "--disk-mb", "9", "--memory-mb", "0");
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
        var tally = new ReadTally();
        string[] names = ["big/forty.bin"];
        for (int pass = 0; pass < 3; pass++) await ReadAllAsync(tally, node, names);
        await Wait.UntilAsync(async () => (await node.StatusAsync()).DiskEvictions > 0, TimeSpan.FromSeconds(30), "disk evictions");
        StatusReport s = await node.StatusAsync();
        long onDisk = Directory.GetFiles(dir, "*.chunk", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Survivors.Say(output, $"9 MiB disk budget, 44 MiB read three times: {s.DiskEvictions} evictions, {onDisk} bytes of chunk files, {s.DiskWriteErrors} write errors");
        tally.Report(output, "disk budget smaller than the data");
        Assert.Equal(tally.Attempted, tally.Exact);
        Assert.True(onDisk <= 9L << 20, $"{onDisk} bytes on disk over a 9 MiB budget");
        Assert.Equal(0, s.DiskWriteErrors);
    }

    [SkippableFact]
    public async Task A_full_filesystem_is_counted_as_disk_write_errors_while_reads_stay_byte_exact()
    {
        string dir = Directory.CreateTempSubdirectory("blobcache-faults-tmpfs-").FullName;
        (int code, string why) = await Shell.RunAsync("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir);
        if (code != 0)
        {
            Directory.Delete(dir);
            string reason = $"cannot mount an 8 MiB tmpfs here (needs root and mount rights): {why}";
            Survivors.Say(output, "SKIPPED full-disk test: " + reason);
            Skip.If(true, reason);
        }
        try
        {
            // The budget (64 MiB) is far above what the filesystem holds (8 MiB): writes fail with ENOSPC.
            await using NodeProcess node = NodeProcess.Start("dfull", fixture.Azurite.ConnectionString, [], "--cache-dir", dir, "--disk-mb", "64", "--memory-mb", "0");
            await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
            var tally = new ReadTally();
            string[] names = ["big/forty.bin", "big/seventeen.bin"];
            for (int pass = 0; pass < 2; pass++) await ReadAllAsync(tally, node, names);
            await Wait.UntilAsync(async () => (await node.StatusAsync()).DiskWriteErrors > 0, TimeSpan.FromSeconds(30), "disk write errors to be counted");
            StatusReport s = await node.StatusAsync();
            using HttpResponseMessage m = await node.GetAsync("/metrics");
            string metrics = await m.Content.ReadAsStringAsync();
            Survivors.Say(output, $"8 MiB tmpfs under a 64 MiB budget: {s.DiskWriteErrors} disk writes failed (ENOSPC), {s.DiskChunks} chunks on disk, {s.BlobGets} Blob GETs, {s.ReadsBySource["disk"]} disk hits");
            tally.Report(output, "full filesystem under the disk tier");
            Assert.Equal(tally.Attempted, tally.Exact);
            Assert.Contains("blobcache_disk_write_errors", metrics, StringComparison.Ordinal);
            // Each chunk filled from Blob is written (and can fail) once: errors were counted twice when a read that
            // fell through to the origin fill stored the chunk a second time.
            Assert.True(s.DiskWriteErrors <= s.BlobGets, $"{s.DiskWriteErrors} write errors for {s.BlobGets} chunks filled");
            await Survivors.AssertAliveAsync([node]);
        }
        finally
        {
            await Shell.RunAsync("umount", "-l", dir);
            Directory.Delete(dir, recursive: true);
        }
    }
}
