using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Azure.Storage.Blobs;
using BlobCache.Testing;
using static BlobCache.LoadTests.BenchOutput;

namespace BlobCache.LoadTests;

/// <summary>
/// `bench --only small_objects`: a knowledge-base read pattern. Many small blobs (1-64 KiB) read whole, at random,
/// by 8 readers through the .NET SDK, straight from Azurite and through one warm node, in alternating rounds of one
/// run. Reported: blobs/s and p50/p99 per read, and the node/direct ratio (target at least 3, p99 at most 2 ms).
/// The node's metadata TTL (5 s by default) runs out several times per round, so what it costs is in the figure. A
/// second node that keeps properties for an hour shows that cost apart: on one machine the revalidations (about one
/// HEAD per blob per TTL) take the emulator's CPU from the same two cores the readers and the node share.
/// </summary>
public static class SmallObjectBench
{
    private const double TargetRatio = 3.0;
    private const int Readers = 8;
    private const string Prefix = "kb/";

    public static async Task RunAsync(BenchSize size, JsonObject results, Azurite azurite, BlobContainerClient container)
    {
        int blobs = size.Smoke ? 100 : 1200;
        int rounds = size.Smoke ? 1 : 3;
        TimeSpan roundLength = size.Smoke ? TimeSpan.FromSeconds(2) : TimeSpan.FromSeconds(12);
        Step($"small_objects: uploading {blobs} blobs of 1-64 KiB");
        var expectedLength = new int[blobs];
        await Parallel.ForAsync(0, blobs, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
        {
            int length = 1024 << (i % 7); // 1 KiB to 64 KiB, evenly
            byte[] data = new byte[length];
            new Random(1000 + i).NextBytes(data);
            expectedLength[i] = length;
            await container.GetBlobClient(Name(i)).UploadAsync(new BinaryData(data), overwrite: true, ct);
        });
        await using NodeProcess node = NodeProcess.Start("bench-small", azurite.ConnectionString, [], "--memory-mb", "512", "--log-level", "Warning");
        await using NodeProcess steady = NodeProcess.Start("bench-small-1h", azurite.ConnectionString, [], "--memory-mb", "512", "--log-level", "Warning",
            "--metadata-ttl-seconds", "3600");
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
        await steady.WaitReadyAsync(TimeSpan.FromSeconds(60));
        Step("small_objects: warming the nodes (every blob read once through each) and the direct client");
        await ReadAllAsync(node.Client, container.Name, blobs, expectedLength);
        await ReadAllAsync(steady.Client, container.Name, blobs, expectedLength);
        await ReadAllAsync(azurite.Client, container.Name, blobs, expectedLength);
        var direct = new List<Round>();
        var viaNode = new List<Round>();
        var viaSteady = new List<Round>();
        for (int round = 0; round < rounds; round++)
        {
            Step($"small_objects: round {round + 1} of {rounds}: direct, through the node, through the node with a 1 h TTL, {roundLength.TotalSeconds:F0} s each");
            direct.Add(await RunRoundAsync(azurite.Client, container.Name, blobs, expectedLength, roundLength, seed: round));
            viaNode.Add(await RunRoundAsync(node.Client, container.Name, blobs, expectedLength, roundLength, seed: round));
            viaSteady.Add(await RunRoundAsync(steady.Client, container.Name, blobs, expectedLength, roundLength, seed: round));
        }
        (double directRate, double directP50, double directP99) = Medians(direct);
        (double nodeRate, double nodeP50, double nodeP99) = Medians(viaNode);
        (double steadyRate, double steadyP50, double steadyP99) = Medians(viaSteady);
        Console.WriteLine();
        Console.WriteLine($"small_objects ({blobs} blobs of 1-64 KiB read whole at random, {Readers} readers, .NET SDK; median of {rounds} rounds of {roundLength.TotalSeconds:F0} s)");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"direct {directRate:F0} blobs/s (p50 {directP50:F2} ms, p99 {directP99:F2} ms); node {nodeRate:F0} blobs/s (p50 {nodeP50:F2} ms, p99 {nodeP99:F2} ms); node/direct {nodeRate / directRate:F2} (target {TargetRatio}, p99 target 2 ms)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"node keeping properties 1 h (no revalidation HEADs in a round): {steadyRate:F0} blobs/s (p50 {steadyP50:F2} ms, p99 {steadyP99:F2} ms); {steadyRate / directRate:F2} x direct"));
        Console.WriteLine();
        results["small_objects"] = new JsonObject
        {
            ["blobs"] = blobs,
            ["readers"] = Readers,
            ["direct_blobs_s"] = Math.Round(directRate, 1),
            ["node_blobs_s"] = Math.Round(nodeRate, 1),
            ["ratio"] = Math.Round(nodeRate / directRate, 3),
            ["direct_p99_ms"] = Math.Round(directP99, 2),
            ["node_p50_ms"] = Math.Round(nodeP50, 2),
            ["node_p99_ms"] = Math.Round(nodeP99, 2),
            ["node_ttl_1h_blobs_s"] = Math.Round(steadyRate, 1),
            ["node_ttl_1h_p50_ms"] = Math.Round(steadyP50, 2),
            ["node_ttl_1h_p99_ms"] = Math.Round(steadyP99, 2),
            ["target_ratio"] = TargetRatio,
        };
    }

    private static string Name(int i) => $"{Prefix}doc-{i:D5}.bin";

    private readonly record struct Round(double BlobsPerSecond, double P50Ms, double P99Ms);

    private static (double BlobsPerSecond, double P50Ms, double P99Ms) Medians(List<Round> rounds) =>
        (Median(rounds.Select(r => r.BlobsPerSecond)), Median(rounds.Select(r => r.P50Ms)), Median(rounds.Select(r => r.P99Ms)));

    private static async Task ReadAllAsync(BlobServiceClient service, string container, int blobs, int[] expectedLength)
    {
        BlobContainerClient c = service.GetBlobContainerClient(container);
        await Parallel.ForAsync(0, blobs, new ParallelOptions { MaxDegreeOfParallelism = Readers }, async (i, ct) =>
        {
            BinaryData content = (await c.GetBlobClient(Name(i)).DownloadContentAsync(ct)).Value.Content;
            if (content.ToMemory().Length != expectedLength[i]) throw new InvalidOperationException($"{service.Uri} returned {content.ToMemory().Length} bytes for {Name(i)}");
        });
    }

    private static async Task<Round> RunRoundAsync(BlobServiceClient service, string container, int blobs, int[] expectedLength, TimeSpan length, int seed)
    {
        BlobContainerClient c = service.GetBlobContainerClient(container);
        var latencies = new List<double>[Readers];
        long end = Stopwatch.GetTimestamp() + (long)(length.TotalSeconds * Stopwatch.Frequency);
        long started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, Readers).Select(r => Task.Run(async () =>
        {
            var mine = latencies[r] = new List<double>(16_384);
            var random = new Random(seed * Readers + r);
            while (Stopwatch.GetTimestamp() < end)
            {
                int i = random.Next(blobs);
                long t = Stopwatch.GetTimestamp();
                BinaryData content = (await c.GetBlobClient(Name(i)).DownloadContentAsync()).Value.Content;
                mine.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                if (content.ToMemory().Length != expectedLength[i]) throw new InvalidOperationException($"{service.Uri} returned wrong bytes for {Name(i)}");
            }
        })));
        double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        double[] all = [.. latencies.SelectMany(l => l).Order()];
        return new Round(all.Length / seconds, all[all.Length / 2], all[Math.Min(all.Length - 1, (int)(all.Length * 0.99))]);
    }


}
