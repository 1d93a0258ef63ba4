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
/// now warm node. A cold read is measured on two nodes: a fresh process (its first 256 MiB land in memory the process
/// has never touched, and its code is still being tiered up) and a node in service (its memory tier already filled
/// and emptied once, so chunk memory is reused, as on a node that has served for a while). The cold ratio is what a
/// first epoch costs against reading Blob directly (target at least 1).
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
        Step($"cold_read: uploading a {length >> 20} MiB blob, and {2 * rounds + 1} more of its size for the node in service");
        byte[] data = new byte[length];
        new Random(11).NextBytes(data);
        await container.GetBlobClient(ColdBlob).UploadAsync(new BinaryData(data), overwrite: true);
        for (int round = -1; round < rounds; round++)
        {
            await container.GetBlobClient(InServiceBlob(round, Concurrency)).UploadAsync(new BinaryData(data), overwrite: true);
            if (round >= 0) await container.GetBlobClient(InServiceBlob(round, 1)).UploadAsync(new BinaryData(data), overwrite: true);
        }
        // A small blob each reader reads first: the cold rounds measure a cache that is empty, not code that is not yet
        // compiled (a node serves for hours; its first request's JIT is no part of what a cold read costs).
        byte[] small = new byte[8 << 20];
        new Random(12).NextBytes(small);
        await container.GetBlobClient(WarmUpBlob).UploadAsync(new BinaryData(small), overwrite: true);
        await DownloadAsync(azurite.Client, container.Name, WarmUpBlob, new byte[small.Length], small);
        byte[] into = new byte[length];
        var rows = new ColdRows();
        await using NodeProcess inService = await StartInServiceAsync(azurite, container.Name, length, into, data, small);
        for (int round = 0; round < rounds; round++)
        {
            Step($"cold_read: round {round + 1} of {rounds}: direct, a fresh node cold, then warm, then the node in service cold; then one stream, direct and in service");
            rows.Direct.Add(await DownloadAsync(azurite.Client, container.Name, ColdBlob, into, data, Concurrency));
            // A node of its own each round, so every cold read finds nothing cached.
            await using NodeProcess node = NodeProcess.Start($"bench-cold-{round}", azurite.ConnectionString, [], "--memory-mb", "1024", "--log-level", "Warning");
            await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
            await DownloadAsync(node.Client, container.Name, WarmUpBlob, new byte[small.Length], small);
            rows.Fresh.Add(await ColdAsync(node, container.Name, ColdBlob, into, data));
            rows.Warm.Add(await DownloadAsync(node.Client, container.Name, ColdBlob, into, data));
            await node.StopAsync(TimeSpan.FromSeconds(30));
            rows.InService.Add(await ColdAsync(inService, container.Name, InServiceBlob(round, Concurrency), into, data, Concurrency));
            rows.OneStreamDirect.Add(await DownloadAsync(azurite.Client, container.Name, ColdBlob, into, data, 1));
            rows.OneStreamInService.Add(await ColdAsync(inService, container.Name, InServiceBlob(round, 1), into, data, 1));
        }
        rows.Print(length, rounds);
        results["cold_read"] = rows.ToJson(length);
    }

    /// <summary>The blob the node in service reads cold in <paramref name="round"/> with <paramref name="streams"/> GETs at once; round -1's fills its memory beforehand.</summary>
    private static string InServiceBlob(int round, int streams) => $"cold-in-service-{streams}-{round + 1}.bin";

    /// <summary>
    /// A node whose memory tier (one and a half blobs) has been filled and emptied by two blobs, so the chunk memory of
    /// its next cold read is memory it has had before. Not less than that: with a tier the size of the read, chunks
    /// fetched ahead are evicted before their reader takes them and read from Blob twice.
    /// </summary>
    private static async Task<NodeProcess> StartInServiceAsync(Azurite azurite, string container, long length, byte[] into, byte[] data, byte[] small)
    {
        Step("cold_read: starting the node in service and cycling its memory tier once");
        NodeProcess node = NodeProcess.Start("bench-cold-in-service", azurite.ConnectionString, [], "--memory-mb", (3 * length / 2 >> 20).ToString(CultureInfo.InvariantCulture), "--log-level", "Warning");
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
        await DownloadAsync(node.Client, container, WarmUpBlob, new byte[small.Length], small);
        await DownloadAsync(node.Client, container, ColdBlob, into, data);
        await DownloadAsync(node.Client, container, InServiceBlob(-1, Concurrency), into, data);
        return node;
    }

    /// <summary>One cold read through <paramref name="node"/>: its rate, the node's CPU seconds and the Blob GETs it made.</summary>
    private static async Task<ColdRead> ColdAsync(NodeProcess node, string container, string blob, byte[] into, byte[] data, int streams = Concurrency)
    {
        double cpu = ProcessCpu.Seconds(node.Pid);
        long gets = (await node.StatusAsync()).BlobGets;
        double mibs = await DownloadAsync(node.Client, container, blob, into, data, streams);
        return new ColdRead(mibs, ProcessCpu.Seconds(node.Pid) - cpu, (await node.StatusAsync()).BlobGets - gets);
    }

    private readonly record struct ColdRead(double MiBs, double CpuSeconds, long BlobGets);

    private sealed class ColdRows
    {
        public List<double> Direct { get; } = [];
        public List<double> Warm { get; } = [];
        public List<ColdRead> Fresh { get; } = [];
        public List<ColdRead> InService { get; } = [];
        public List<double> OneStreamDirect { get; } = [];
        public List<ColdRead> OneStreamInService { get; } = [];

        public void Print(long length, int rounds)
        {
            double direct = Median(Direct);
            Console.WriteLine();
            Console.WriteLine($"cold_read ({length >> 20} MiB, .NET SDK DownloadTo, {Concurrency} x {TransferSize >> 20} MiB ranged GETs at once; median of {rounds})");
            Console.WriteLine(Invariant($"direct {direct:F0} MiB/s; warm node {Median(Warm):F0} MiB/s ({Median(Warm) / direct:F2} x direct)"));
            Line("node in service, cold", InService, direct, length);
            Line("fresh node, cold     ", Fresh, direct, length);
            Console.WriteLine(Invariant($"direct runs {Runs(Direct)} MiB/s"));
            double oneDirect = Median(OneStreamDirect);
            Console.WriteLine(Invariant($"one GET at a time ({TransferSize >> 20} MiB each): direct {oneDirect:F0} MiB/s (runs {Runs(OneStreamDirect)})"));
            Line("node in service, cold", OneStreamInService, oneDirect, length);
            Console.WriteLine();
        }

        private static void Line(string what, List<ColdRead> reads, double direct, long length)
        {
            double mibs = Median(reads.Select(r => r.MiBs)), cpu = Median(reads.Select(r => r.CpuSeconds));
            Console.WriteLine(Invariant(
                $"{what} {mibs:F0} MiB/s = {mibs / direct:F2} x direct (target {Target}); node CPU {cpu:F2} s ({cpu / (length / 1073741824.0):F2} s per GiB); Blob GETs {string.Join(' ', reads.Select(r => r.BlobGets))}; runs {Runs(reads.Select(r => r.MiBs))} MiB/s"));
        }

        public JsonObject ToJson(long length)
        {
            double direct = Median(Direct);
            return new JsonObject
            {
                ["blob_mib"] = length >> 20,
                ["concurrency"] = Concurrency,
                ["direct_mib_s"] = Math.Round(direct, 1),
                ["warm_mib_s"] = Math.Round(Median(Warm), 1),
                ["warm_ratio"] = Math.Round(Median(Warm) / direct, 3),
                ["in_service"] = Json(InService, direct),
                ["fresh_node"] = Json(Fresh, direct),
                ["one_stream_direct_mib_s"] = Math.Round(Median(OneStreamDirect), 1),
                ["one_stream_in_service"] = Json(OneStreamInService, Median(OneStreamDirect)),
                ["target"] = Target,
                ["direct_runs"] = new JsonArray([.. Direct.Select(d => JsonValue.Create(Math.Round(d, 1)))]),
            };
        }

        private static JsonObject Json(List<ColdRead> reads, double direct) => new()
        {
            ["cold_mib_s"] = Math.Round(Median(reads.Select(r => r.MiBs)), 1),
            ["cold_ratio"] = Math.Round(Median(reads.Select(r => r.MiBs)) / direct, 3),
            ["node_cpu_s_per_cold_read"] = Math.Round(Median(reads.Select(r => r.CpuSeconds)), 2),
            ["blob_gets"] = new JsonArray([.. reads.Select(r => JsonValue.Create(r.BlobGets))]),
            ["runs"] = new JsonArray([.. reads.Select(r => JsonValue.Create(Math.Round(r.MiBs, 1)))]),
        };

        private static string Runs(IEnumerable<double> runs) => string.Join(' ', runs.Select(d => d.ToString("F0", CultureInfo.InvariantCulture)));

        private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>One whole download into <paramref name="into"/>; MiB/s. Wrong bytes end the run.</summary>
    private static async Task<double> DownloadAsync(BlobServiceClient service, string container, string blob, byte[] into, byte[] expected, int streams = Concurrency)
    {
        Array.Clear(into);
        var options = new BlobDownloadToOptions
        {
            TransferOptions = new StorageTransferOptions { MaximumConcurrency = streams, InitialTransferSize = TransferSize, MaximumTransferSize = TransferSize },
        };
        using var target = new MemoryStream(into, writable: true);
        long started = Stopwatch.GetTimestamp();
        await service.GetBlobContainerClient(container).GetBlobClient(blob).DownloadToAsync(target, options);
        double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        if (!into.AsSpan().SequenceEqual(expected)) throw new InvalidOperationException($"{service.Uri} returned wrong bytes for {blob}");
        return expected.Length / 1048576.0 / seconds;
    }


}
