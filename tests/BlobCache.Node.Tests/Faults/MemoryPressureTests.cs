using System.Globalization;
using Azure.Storage.Blobs;
using BlobCache.Node.Hosting;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Store;
using BlobCache.Testing;
using Xunit.Abstractions;

namespace BlobCache.Node.Tests.Faults;

/// <summary>
/// Single-flight while the memory tier is small: a cold blob read by many concurrent readers of random 4 MiB ranges
/// costs one Blob GET per chunk, counted at a proxy in front of Azurite, while chunks are evicted from memory and
/// wait for the disk writer.
/// </summary>
[Collection(MeshCollection.Name)]
public sealed class MemoryPressureTests(MeshFixture fixture, ITestOutputHelper output)
{
    private const int MiB = 1024 * 1024;
    private const int ChunkSize = 4 * MiB;
    private const string Container = "pressure";
    private const long Length = 100L * MiB;
    private const int Readers = 64, RangesPerReader = 4;

    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromMinutes(2) };

    /// <summary>The issue's figures: 64 readers of a cold 100 MiB blob through a 128 MiB memory tier, no disk tier.</summary>
    [Fact]
    public async Task Many_readers_of_random_4_MiB_ranges_of_a_cold_blob_through_a_128_MiB_memory_tier_cost_one_Blob_GET_per_chunk()
    {
        (string name, byte[] data) = await UploadAsync("memory-only.bin", seed: 128);
        await using var proxy = new FaultProxy(fixture.Azurite.Port);
        proxy.Start();
        await using NodeProcess node = NodeProcess.Start("pressure-128", Azurite.ConnectionStringFor(proxy.Port), [], "--memory-mb", "128");
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
        await ReadAndCountAsync(node, proxy, name, data, "--memory-mb 128");
    }

    /// <summary>
    /// A 16 MiB memory tier over a disk tier whose writer is stuck (a named pipe where it writes its first file): every
    /// chunk of the burst waits in the writer's queue, which holds fewer bytes than the blob, while memory evicts it
    /// right after the next one arrives. Each must stay readable until it is on disk.
    /// </summary>
    [SkippableFact]
    public async Task Many_readers_of_random_4_MiB_ranges_of_a_cold_blob_cost_one_Blob_GET_per_chunk_while_the_disk_writer_is_stalled()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "a named pipe stalls the disk writer: Linux only");
        (string name, byte[] data) = await UploadAsync("behind-a-stalled-disk.bin", seed: 16);
        BlobClient blocker = fixture.Azurite.Client.GetBlobContainerClient(Container).GetBlobClient("blocker.bin");
        await blocker.UploadAsync(new BinaryData(new byte[1024]), overwrite: true);
        string etag = (await blocker.GetPropertiesAsync()).Value.ETag.ToString();

        await using var proxy = new FaultProxy(fixture.Azurite.Port);
        proxy.Start();
        using var cacheDir = new TempDir("blobcache-pressure-");
        await using NodeProcess node = NodeProcess.Start("pressure-16", Azurite.ConnectionStringFor(proxy.Port), [], "--memory-mb", "16", "--cache-dir", cacheDir.Path);
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
        // Once the node has started (it deletes leftover temp files then): the writer's temp file for the blocker's
        // one chunk (the store's layout: ab/cd/abcd....chunk.tmp) is a pipe. Opening it for writing waits for a
        // reader, and every write queued after it waits too.
        string hex = new ChunkId(Azurite.Account, Container, "blocker.bin", etag, 0).Hash.ToString("x16", CultureInfo.InvariantCulture);
        string pipe = Path.Combine(cacheDir.Path, hex[..2], hex[2..4], hex + ".chunk.tmp");
        Directory.CreateDirectory(Path.GetDirectoryName(pipe)!);
        (int code, string text) = await Shell.RunAsync("mkfifo", pipe);
        Skip.If(code != 0, $"mkfifo failed: {text}");
        using (HttpResponseMessage r = await Http.GetAsync($"{node.Endpoint}/{Container}/blocker.bin")) r.EnsureSuccessStatusCode();
        await ReadAndCountAsync(node, proxy, name, data, "--memory-mb 16 --cache-dir, the disk writer stalled");

        // The writer is let go (it fails on the pipe, one write error) and goes on with what it held: a whole read now
        // is served from memory and disk, with no further Blob GET.
        Task drain = Task.Run(async () =>
        {
            await using var reader = new FileStream(pipe, FileMode.Open, FileAccess.Read);
            await reader.CopyToAsync(Stream.Null);
        });
        try
        {
            await drain.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            // Our reader waits for a writer that never came: be the writer, so it returns, and say so.
            await using (new FileStream(pipe, FileMode.Open, FileAccess.Write)) { }
            await drain;
            Assert.Fail("the disk writer never opened the pipe: it was not stalled");
        }
        Assert.True((await Http.GetByteArrayAsync($"{node.Endpoint}/{Container}/{name}")).AsSpan().SequenceEqual(data), "the whole blob read afterwards differs");
        Assert.Equal(Length / ChunkSize, proxy.Requests.Count(q => q.Method == "GET" && q.RangeStart is not null && q.Path.EndsWith("/" + name, StringComparison.Ordinal)));
        await Survivors.AssertAliveAsync([node]);
    }

    /// <summary>
    /// One reader reading a cold blob front to back, a 4 MiB range at a time, through a memory tier of four chunks: the
    /// chunks fetched ahead of it must still be there when it comes, though memory evicts each new chunk as soon as
    /// the next arrives (its small queue is smaller than one chunk).
    /// </summary>
    [Fact]
    public async Task A_sequential_reader_through_a_memory_tier_smaller_than_its_read_ahead_costs_one_Blob_GET_per_chunk()
    {
        (string name, byte[] data) = await UploadAsync("sequential.bin", seed: 4);
        await using var proxy = new FaultProxy(fixture.Azurite.Port);
        proxy.Start();
        await using NodeProcess node = NodeProcess.Start("pressure-ahead", Azurite.ConnectionStringFor(proxy.Port), [], "--memory-mb", "16");
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
        for (long from = 0; from < Length; from += ChunkSize)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"{node.Endpoint}/{Container}/{name}");
            request.Headers.Add("x-ms-range", $"bytes={from}-{from + ChunkSize - 1}");
            using HttpResponseMessage response = await Http.SendAsync(request);
            response.EnsureSuccessStatusCode();
            Assert.True((await response.Content.ReadAsByteArrayAsync()).AsSpan().SequenceEqual(data.AsSpan((int)from, ChunkSize)), $"wrong bytes at {from}");
        }
        Dictionary<long, int> perChunk = proxy.Requests.Where(q => q.Method == "GET" && q.RangeStart is not null && q.Path.EndsWith("/" + name, StringComparison.Ordinal))
            .GroupBy(q => q.RangeStart!.Value / ChunkSize).ToDictionary(g => g.Key, g => g.Count());
        StatusReport s = await node.StatusAsync();
        Survivors.Say(output, $"one sequential reader, --memory-mb 16: Blob GETs {perChunk.Values.Sum()} for {Length / ChunkSize} chunks; memory evictions {s.MemoryEvictions}");
        Assert.True(perChunk.Count == Length / ChunkSize && perChunk.Values.All(n => n == 1),
            $"read more than once: {string.Join(", ", perChunk.Where(c => c.Value > 1).Select(c => $"chunk {c.Key} ×{c.Value}"))}");
    }

    private async Task<(string Name, byte[] Data)> UploadAsync(string name, int seed)
    {
        byte[] data = new byte[Length];
        new Random(seed).NextBytes(data);
        BlobContainerClient container = fixture.Azurite.Client.GetBlobContainerClient(Container);
        await container.CreateIfNotExistsAsync();
        await container.GetBlobClient(name).UploadAsync(new BinaryData(data), overwrite: true);
        return (name, data);
    }

    private async Task ReadAndCountAsync(NodeProcess node, FaultProxy proxy, string name, byte[] data, string setup)
    {
        int wrong = 0;
        await Task.WhenAll(Enumerable.Range(0, Readers).Select(async r =>
        {
            var random = new Random(r);
            for (int i = 0; i < RangesPerReader; i++)
            {
                long from = random.NextInt64(Length - ChunkSize + 1);
                using var request = new HttpRequestMessage(HttpMethod.Get, $"{node.Endpoint}/{Container}/{name}");
                request.Headers.Add("x-ms-range", $"bytes={from}-{from + ChunkSize - 1}");
                using HttpResponseMessage response = await Http.SendAsync(request);
                response.EnsureSuccessStatusCode();
                byte[] body = await response.Content.ReadAsByteArrayAsync();
                if (!body.AsSpan().SequenceEqual(data.AsSpan((int)from, ChunkSize))) Interlocked.Increment(ref wrong);
            }
        }));

        bool IsChunkGet(ProxiedRequest q) => q.Method == "GET" && q.RangeStart is not null && q.Path.EndsWith("/" + name, StringComparison.Ordinal);
        long chunks = (Length + ChunkSize - 1) / ChunkSize;
        Dictionary<long, int> perChunk = proxy.Requests.Where(IsChunkGet).GroupBy(q => q.RangeStart!.Value / ChunkSize).ToDictionary(g => g.Key, g => g.Count());
        int gets = perChunk.Values.Sum();
        StatusReport s = await node.StatusAsync();
        Survivors.Say(output, $"{setup}: {Readers} readers × {RangesPerReader} random 4 MiB ranges of a cold {Length / MiB} MiB blob: Blob GETs {gets} for {chunks} chunks " +
            $"(the node counts {s.BlobGets} fills; more GETs than fills are the origin client's retries); memory evictions {s.MemoryEvictions}, disk writes dropped {s.DiskWritesDropped}");
        Assert.Equal(0, wrong);
        Assert.True(gets == chunks && perChunk.Count == chunks,
            $"Blob GETs {gets} for {chunks} chunks; read more than once: {string.Join(", ", perChunk.Where(c => c.Value > 1).Select(c => $"chunk {c.Key} ×{c.Value}"))} " +
            $"(ranges: {string.Join(", ", proxy.Requests.Where(q => IsChunkGet(q) && perChunk[q.RangeStart!.Value / ChunkSize] > 1).Select(q => $"{q.RangeStart}-{q.RangeEnd}"))}); " +
            $"the node's warnings:\n{string.Join('\n', node.Log.Split('\n').Where(l => l.Contains(" warn: ", StringComparison.Ordinal)))}");
    }
}
