using System.Globalization;
using BlobCache.Node.Hosting;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;
using Xunit.Abstractions;

namespace BlobCache.Node.Tests.Faults;

/// <summary>
/// Single-flight while the memory tier is small: a cold blob read by many concurrent readers of random 4 MiB ranges
/// costs one Blob GET per chunk, counted at a proxy in front of Azurite, while chunks are evicted from memory and
/// queued for (or waiting for room in) the disk writer.
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

    public static TheoryData<int, bool, int> Cases => new()
    {
        // The issue's figures: 64 readers of a cold 100 MiB blob through a 128 MiB memory tier, no disk tier.
        { 128, false, 0 },
        // Blob answers every GET after a second, so the fills land in one burst, more than the disk writer's queue
        // holds, and a 16 MiB memory tier evicts each chunk right after the next one arrives.
        { 16, true, 1000 },
        { 128, true, 1000 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Many_readers_of_random_4_MiB_ranges_of_a_cold_blob_cost_one_Blob_GET_per_chunk_under_a_small_memory_tier(int memoryMb, bool disk, int blobDelayMs)
    {
        string name = $"hundred-{memoryMb}-{disk}-{blobDelayMs}.bin";
        byte[] data = new byte[Length];
        new Random(memoryMb + blobDelayMs).NextBytes(data);
        var container = fixture.Azurite.Client.GetBlobContainerClient(Container);
        await container.CreateIfNotExistsAsync();
        await container.GetBlobClient(name).UploadAsync(new BinaryData(data), overwrite: true);

        await using var proxy = new FaultProxy(fixture.Azurite.Port);
        bool IsChunkGet(ProxiedRequest q) => q.Method == "GET" && q.RangeStart is not null && q.Path.EndsWith("/" + name, StringComparison.Ordinal);
        if (blobDelayMs > 0) proxy.Rule = q => IsChunkGet(q) ? Fault.Slow(TimeSpan.FromMilliseconds(blobDelayMs)) : Fault.Pass;
        proxy.Start();
        string? cacheDir = disk ? Directory.CreateTempSubdirectory("blobcache-pressure-").FullName : null;
        var extra = new List<string> { "--memory-mb", memoryMb.ToString(CultureInfo.InvariantCulture) };
        if (cacheDir is not null) extra.AddRange(["--cache-dir", cacheDir]);
        try
        {
            await using NodeProcess node = NodeProcess.Start($"pressure-{memoryMb}", Azurite.ConnectionStringFor(proxy.Port), [], [.. extra]);
            await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
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

            long chunks = (Length + ChunkSize - 1) / ChunkSize;
            Dictionary<long, int> perChunk = proxy.Requests.Where(IsChunkGet).GroupBy(q => q.RangeStart!.Value / ChunkSize).ToDictionary(g => g.Key, g => g.Count());
            int gets = perChunk.Values.Sum();
            StatusReport s = await node.StatusAsync();
            Survivors.Say(output, $"--memory-mb {memoryMb}{(disk ? " --cache-dir" : "")}{(blobDelayMs > 0 ? $", Blob answering after {blobDelayMs} ms" : "")}: " +
                $"{Readers} readers × {RangesPerReader} random 4 MiB ranges of a cold {Length / MiB} MiB blob: Blob GETs {gets} for {chunks} chunks; " +
                $"memory evictions {s.MemoryEvictions}, disk writes dropped {s.DiskWritesDropped}");
            Assert.Equal(0, wrong);
            Assert.True(gets == chunks && perChunk.Count == chunks,
                $"Blob GETs {gets} for {chunks} chunks; read more than once: {string.Join(", ", perChunk.Where(c => c.Value > 1).Select(c => $"chunk {c.Key} ×{c.Value}"))}");
        }
        finally
        {
            if (cacheDir is not null) Directory.Delete(cacheDir, recursive: true);
        }
    }
}
