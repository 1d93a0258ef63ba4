using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using BlobCache.Testing;
using static BlobCache.LoadTests.BenchOutput;

namespace BlobCache.LoadTests;

/// <summary>
/// `bench --only cold_read`: one blob read whole by the .NET SDK's parallel download (8 ranged GETs of 4 MiB at once),
/// straight from Azurite and through a node that has never seen it, in turns in one run; then once more through the
/// now warm node. The cold ratio is what a first epoch costs against reading Blob directly (target at least 1).
/// </summary>
public static class ColdReadBench
{
    private const double Target = 1.0;
    private const int Concurrency = 8;
    private const int TransferSize = 4 << 20;
    private const string ColdBlob = "cold.bin", WarmUpBlob = "cold-warm-up.bin";

    public static async Task RunAsync(BenchSize size, JsonObject results, Azurite azurite, BlobContainerClient container)
    {
        int rounds = size.Smoke ? 1 : 5;
        long length = size.HitBlobBytes;
        Step($"cold_read: uploading a {length >> 20} MiB blob");
        byte[] data = new byte[length];
        new Random(11).NextBytes(data);
        await container.GetBlobClient(ColdBlob).UploadAsync(new BinaryData(data), overwrite: true);
        // A small blob each reader reads first: the cold rounds measure a cache that is empty, not code that is not yet
        // compiled (a node serves for hours; its first request's JIT is no part of what a cold read costs).
        byte[] small = new byte[8 << 20];
        new Random(12).NextBytes(small);
        await container.GetBlobClient(WarmUpBlob).UploadAsync(new BinaryData(small), overwrite: true);
        await DownloadAsync(azurite.Client, container.Name, WarmUpBlob, new byte[small.Length], small);
        var direct = new List<double>();
        var cold = new List<double>();
        var warm = new List<double>();
        var coldCpu = new List<double>();
        byte[] into = new byte[length];
        for (int round = 0; round < rounds; round++)
        {
            Step($"cold_read: round {round + 1} of {rounds}: direct, then a fresh node cold, then warm");
            direct.Add(await DownloadAsync(azurite.Client, container.Name, ColdBlob, into, data));
            // A node of its own each round, so every cold read finds nothing cached.
            await using NodeProcess node = NodeProcess.Start($"bench-cold-{round}", azurite.ConnectionString, [], "--memory-mb", "1024", "--log-level", "Warning");
            await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
            await DownloadAsync(node.Client, container.Name, WarmUpBlob, new byte[small.Length], small);
            double cpu = ProcessCpu.Seconds(node.Pid);
            cold.Add(await DownloadAsync(node.Client, container.Name, ColdBlob, into, data));
            coldCpu.Add(ProcessCpu.Seconds(node.Pid) - cpu);
            warm.Add(await DownloadAsync(node.Client, container.Name, ColdBlob, into, data));
            await node.StopAsync(TimeSpan.FromSeconds(30));
        }
        double directMiBs = Median(direct), coldMiBs = Median(cold), warmMiBs = Median(warm);
        double coldRatio = coldMiBs / directMiBs, warmRatio = warmMiBs / directMiBs;
        Console.WriteLine();
        Console.WriteLine($"cold_read ({length >> 20} MiB, .NET SDK DownloadTo, {Concurrency} x {TransferSize >> 20} MiB ranged GETs at once; median of {rounds})");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"direct {directMiBs:F0} MiB/s, node cold {coldMiBs:F0} MiB/s, node warm {warmMiBs:F0} MiB/s; cold/direct {coldRatio:F2} (target {Target}), warm/direct {warmRatio:F2}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"node CPU per cold read {Median(coldCpu):F2} s ({Median(coldCpu) / (length / 1073741824.0):F2} s per GiB); direct runs {string.Join(' ', direct.Select(d => d.ToString("F0", CultureInfo.InvariantCulture)))}, cold runs {string.Join(' ', cold.Select(d => d.ToString("F0", CultureInfo.InvariantCulture)))} MiB/s"));
        Console.WriteLine();
        results["cold_read"] = new JsonObject
        {
            ["blob_mib"] = length >> 20,
            ["concurrency"] = Concurrency,
            ["direct_mib_s"] = Math.Round(directMiBs, 1),
            ["cold_mib_s"] = Math.Round(coldMiBs, 1),
            ["warm_mib_s"] = Math.Round(warmMiBs, 1),
            ["cold_ratio"] = Math.Round(coldRatio, 3),
            ["warm_ratio"] = Math.Round(warmRatio, 3),
            ["target"] = Target,
            ["node_cpu_s_per_cold_read"] = Math.Round(Median(coldCpu), 2),
            ["direct_runs"] = new JsonArray([.. direct.Select(d => JsonValue.Create(Math.Round(d, 1)))]),
            ["cold_runs"] = new JsonArray([.. cold.Select(d => JsonValue.Create(Math.Round(d, 1)))]),
        };
    }

    /// <summary>One whole download into <paramref name="into"/>; MiB/s. Wrong bytes end the run.</summary>
    private static async Task<double> DownloadAsync(BlobServiceClient service, string container, string blob, byte[] into, byte[] expected)
    {
        Array.Clear(into);
        var options = new BlobDownloadToOptions
        {
            TransferOptions = new StorageTransferOptions { MaximumConcurrency = Concurrency, InitialTransferSize = TransferSize, MaximumTransferSize = TransferSize },
        };
        using var target = new MemoryStream(into, writable: true);
        long started = Stopwatch.GetTimestamp();
        await service.GetBlobContainerClient(container).GetBlobClient(blob).DownloadToAsync(target, options);
        double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        if (!into.AsSpan().SequenceEqual(expected)) throw new InvalidOperationException($"{service.Uri} returned wrong bytes for {blob}");
        return expected.Length / 1048576.0 / seconds;
    }


}
