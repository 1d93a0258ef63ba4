using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using BlobCache.Testing;

namespace BlobCache.LoadTests;

/// <summary>
/// `load`: the load-test scenarios on real nodes: the runner checked against wrk, rising concurrency until p99
/// passes a bound (the knee), a soak with memory and handles sampled, and reads while nodes join and leave.
/// </summary>
public static partial class LoadScenarios
{
    private const string Container = "load";
    private const int Range = 64 * 1024;

    public static async Task<int> RunAsync(bool smoke, string outDir, IReadOnlySet<string> only)
    {
        bool Run(string part) => only.Count == 0 || only.Contains(part);
        TimeSpan step = smoke ? TimeSpan.FromSeconds(2) : TimeSpan.FromSeconds(10);
        TimeSpan soak = smoke ? TimeSpan.FromSeconds(10) : TimeSpan.FromMinutes(10);
        double p99BoundMs = 20;
        var results = new JsonObject { ["smoke"] = smoke, ["range_bytes"] = Range };
        await using var azurite = new Azurite();
        await azurite.StartAsync();
        BlobContainerClient container = azurite.Client.GetBlobContainerClient(Container);
        await container.CreateIfNotExistsAsync(PublicAccessType.Blob);
        long length = 64L << 20;
        byte[] data = new byte[length];
        new Random(3).NextBytes(data);
        await container.GetBlobClient("blob.bin").UploadAsync(new BinaryData(data), overwrite: true);
        var nodes = new List<NodeProcess>();
        try
        {
            for (int i = 0; i < 3; i++)
                nodes.Add(NodeProcess.Start($"load-{i}", azurite.ConnectionString, i == 0 ? [] : [nodes[0].GossipAddress], "--log-level", "Warning"));
            foreach (NodeProcess n in nodes) await n.WaitReadyAsync(TimeSpan.FromSeconds(60));
            string url = $"{nodes[0].Endpoint}/{Container}/blob.bin";
            using (var http = new HttpClient()) await http.GetByteArrayAsync(url); // into node 0's cache

            if (Run("wrk_check")) results["wrk_check"] = await WrkCheckAsync(nodes[0], url, step, smoke ? 1 : 3);
            if (Run("knee")) results["knee"] = await KneeAsync(url, length, step, p99BoundMs, smoke ? 16 : 256);
            if (Run("soak")) results["soak"] = await SoakAsync(nodes[0], url, length, soak);
            if (Run("churn")) results["churn"] = await ChurnAsync(azurite, nodes, url, length, step);
        }
        finally
        {
            foreach (NodeProcess n in nodes) await n.DisposeAsync();
        }
        Directory.CreateDirectory(outDir);
        string path = Path.Combine(outDir, "load.json");
        await File.WriteAllTextAsync(path, results.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"wrote {path}");
        return 0;
    }

    // The same fixed range at the same concurrency, measured by this runner and by wrk: throughput within 10%.
    // Both share the machine's two cores with the node, so a closed-loop figure depends on what the client itself
    // costs per request: the range is 4 KiB, which both clients take in one receive (wrk reads 8 KiB at a time;
    // at 64 KiB it makes eight receives to the runner's one or two and costs twice the CPU, which the node then
    // lacks). Rounds alternate (runner, wrk, runner, ...) after an uncounted warm-up of each, and the median ratio
    // counts, so load from elsewhere hits both alike. The node's own count of chunk reads is taken around each
    // run: every answer a client counted is one the node served, so a client that miscounts shows there too.
    private const int CheckRange = 4 * 1024;

    private static async Task<JsonObject> WrkCheckAsync(NodeProcess node, string url, TimeSpan duration, int rounds)
    {
        const int connections = 8;
        TimeSpan warmUp = TimeSpan.FromSeconds(2);
        await RunnerAsync(url, connections, warmUp);
        await WrkAsync(url, connections, warmUp);
        var rows = new JsonArray();
        var ratios = new List<double>();
        for (int round = 0; round < rounds; round++)
        {
            long before = await ChunkReadsAsync(node);
            (LoadResult ours, double runnerCpuUs) = await RunnerAsync(url, connections, duration);
            long betweenRuns = await ChunkReadsAsync(node);
            WrkResult wrk = await WrkAsync(url, connections, duration);
            long after = await ChunkReadsAsync(node);
            double wrkCpuUs = wrk.Requests <= 0 ? 0 : wrk.CpuSeconds * 1e6 / wrk.Requests;
            double ratio = wrk.RequestsPerSecond <= 0 ? 0 : ours.RequestsPerSecond / wrk.RequestsPerSecond;
            ratios.Add(ratio);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrk check round {round + 1} ({connections} connections, one 4 KiB range): runner {ours.RequestsPerSecond:F0} req/s ({runnerCpuUs:F0} µs CPU/request), wrk {wrk.RequestsPerSecond:F0} req/s ({wrkCpuUs:F0} µs CPU/request), ratio {ratio:F3}; answers counted by runner/node {ours.Answered}/{betweenRuns - before}, by wrk/node {wrk.Requests}/{after - betweenRuns}"));
            rows.Add(new JsonObject
            {
                ["runner_rps"] = Math.Round(ours.RequestsPerSecond), ["wrk_rps"] = Math.Round(wrk.RequestsPerSecond), ["ratio"] = Math.Round(ratio, 3),
                ["runner_cpu_us_per_request"] = Math.Round(runnerCpuUs, 1), ["wrk_cpu_us_per_request"] = Math.Round(wrkCpuUs, 1),
                ["runner_answers"] = ours.Answered, ["node_reads_during_runner"] = betweenRuns - before,
                ["wrk_answers"] = wrk.Requests, ["node_reads_during_wrk"] = after - betweenRuns,
            });
        }
        double median = ratios.Order().ElementAt(ratios.Count / 2);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"wrk check: median ratio {median:F3} ({(Math.Abs(median - 1) <= 0.10 ? "within" : "OUTSIDE")} 10%)"));
        return new JsonObject { ["connections"] = connections, ["range_bytes"] = CheckRange, ["ratio"] = Math.Round(median, 3), ["rounds"] = rows };
    }

    // The node's chunk reads so far, every tier (one per 4 KiB answer; /status is not a chunk read).
    private static async Task<long> ChunkReadsAsync(NodeProcess node) => (await node.StatusAsync()).ReadsBySource.Values.Sum();

    // The runner on the check's range, with its CPU per request (the process's CPU over every answer, warm-up too).
    private static async Task<(LoadResult Result, double CpuUsPerRequest)> RunnerAsync(string url, int connections, TimeSpan duration)
    {
        TimeSpan cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        LoadResult r = await ReadLoad.RunAsync("blobcache", url, CheckRange, CheckRange, connections, TimeSpan.FromSeconds(1), duration, 1, fixedRange: true);
        double cpuUs = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMicroseconds / Math.Max(1, r.Answered);
        return (r, cpuUs);
    }

    private sealed record WrkResult(double RequestsPerSecond, long Requests, double CpuSeconds);

    // wrk with its CPU time: bash's `times` prints the user and system time of the shell's children (wrk).
    private static async Task<WrkResult> WrkAsync(string url, int connections, TimeSpan duration)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("wrk \"$@\" && times");
        psi.ArgumentList.Add("wrk");
        foreach (string a in new[] { "-t", "2", "-c", connections.ToString(CultureInfo.InvariantCulture), "-d", $"{(int)Math.Max(1, duration.TotalSeconds)}s",
            "-H", $"Range: bytes=0-{CheckRange - 1}", url })
            psi.ArgumentList.Add(a);
        using Process wrk = Process.Start(psi) ?? throw new InvalidOperationException("could not start bash to run wrk");
        string output = await wrk.StandardOutput.ReadToEndAsync();
        await wrk.WaitForExitAsync();
        if (wrk.ExitCode != 0) throw new InvalidOperationException($"wrk failed (is it installed? apt-get install wrk): {await wrk.StandardError.ReadToEndAsync()}");
        Match m = RequestsPerSec().Match(output);
        double rps = m.Success ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        Match total = RequestsIn().Match(output);
        long requests = total.Success ? long.Parse(total.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        if (NonSuccess().IsMatch(output)) throw new InvalidOperationException($"wrk got answers other than 206 from the node:\n{output}");
        // `times`: two lines "XmY.YYYs XmY.YYYs", the shell's then its children's; the second is wrk's.
        MatchCollection t = TimesLine().Matches(output);
        double cpu = 0;
        if (t.Count >= 2)
        {
            Match c = t[^1];
            cpu = Minutes(c.Groups[1].Value, c.Groups[2].Value) + Minutes(c.Groups[3].Value, c.Groups[4].Value);
        }
        return new WrkResult(rps, requests, cpu);
    }

    private static double Minutes(string m, string s) => int.Parse(m, CultureInfo.InvariantCulture) * 60 + double.Parse(s, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^(\d+)m([0-9.]+)s (\d+)m([0-9.]+)s$", RegexOptions.Multiline)]
    private static partial Regex TimesLine();

    [GeneratedRegex(@"Requests/sec:\s+([0-9.]+)")]
    private static partial Regex RequestsPerSec();

    [GeneratedRegex(@"(\d+) requests in ")]
    private static partial Regex RequestsIn();

    [GeneratedRegex(@"Non-2xx or 3xx responses:")]
    private static partial Regex NonSuccess();

    private static async Task<JsonObject> KneeAsync(string url, long length, TimeSpan step, double boundMs, int maxConcurrency)
    {
        var rows = new JsonArray();
        int? knee = null;
        Console.WriteLine($"knee: 64 KiB random ranges at rising concurrency until p99 > {boundMs} ms");
        for (int c = 1; c <= maxConcurrency; c *= 2)
        {
            LoadResult r = await ReadLoad.RunAsync("blobcache", url, length, Range, c, TimeSpan.FromSeconds(0.5), step, c);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {c,4} readers: {r.RequestsPerSecond,8:F0} req/s {r.MiBPerSecond,7:F0} MiB/s p50 {r.P50Ms,6:F2} ms p99 {r.P99Ms,7:F2} ms errors {r.Errors}"));
            rows.Add(JsonSerializer.SerializeToNode(r));
            if (r.P99Ms > boundMs)
            {
                knee = c;
                break;
            }
        }
        Console.WriteLine(knee is null ? $"  no knee up to {maxConcurrency} readers" : $"  knee at {knee} readers");
        return new JsonObject { ["p99_bound_ms"] = boundMs, ["knee_readers"] = knee, ["steps"] = rows };
    }

    // Reads for the whole soak while sampling the node's resident memory and open file descriptors.
    private static async Task<JsonObject> SoakAsync(NodeProcess node, string url, long length, TimeSpan duration)
    {
        var samples = new JsonArray();
        using var stop = new CancellationTokenSource();
        Task<LoadResult> load = ReadLoad.RunAsync("blobcache", url, length, Range, 8, TimeSpan.Zero, duration, 5);
        var sw = Stopwatch.StartNew();
        TimeSpan every = TimeSpan.FromSeconds(Math.Max(1, duration.TotalSeconds / 20));
        while (!load.IsCompleted)
        {
            (long rss, int fds) = ProcessFootprint.Of(node.Pid);
            samples.Add(new JsonObject { ["seconds"] = Math.Round(sw.Elapsed.TotalSeconds, 1), ["rss_bytes"] = rss, ["fds"] = fds });
            await Task.WhenAny(load, Task.Delay(every));
        }
        LoadResult r = await load;
        long firstRss = samples.Count > 2 ? samples[samples.Count / 4]!["rss_bytes"]!.GetValue<long>() : 0;
        long lastRss = samples.Count > 0 ? samples[^1]!["rss_bytes"]!.GetValue<long>() : 0;
        int firstFds = samples.Count > 2 ? samples[samples.Count / 4]!["fds"]!.GetValue<int>() : 0;
        int lastFds = samples.Count > 0 ? samples[^1]!["fds"]!.GetValue<int>() : 0;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"soak {duration.TotalSeconds:F0} s, 8 readers: {r.RequestsPerSecond:F0} req/s, p99 {r.P99Ms:F2} ms, errors {r.Errors}; node RSS {firstRss >> 20} → {lastRss >> 20} MiB, fds {firstFds} → {lastFds} (from a quarter in to the end)"));
        return new JsonObject
        {
            ["seconds"] = duration.TotalSeconds, ["rps"] = Math.Round(r.RequestsPerSecond), ["p99_ms"] = Math.Round(r.P99Ms, 3), ["errors"] = r.Errors,
            ["rss_start_bytes"] = firstRss, ["rss_end_bytes"] = lastRss, ["fds_start"] = firstFds, ["fds_end"] = lastFds, ["samples"] = samples,
        };
    }

    // Reads through node 0 while two more nodes join and one leaves and one is killed: reads keep succeeding.
    private static async Task<JsonObject> ChurnAsync(Azurite azurite, List<NodeProcess> nodes, string url, long length, TimeSpan step)
    {
        TimeSpan duration = step * 4;
        Task<LoadResult> load = ReadLoad.RunAsync("blobcache", url, length, Range, 8, TimeSpan.Zero, duration, 9);
        var extra = new List<NodeProcess>();
        var events = new JsonArray();
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 2; i++)
        {
            NodeProcess n = NodeProcess.Start($"load-join-{i}", azurite.ConnectionString, [nodes[0].GossipAddress], "--log-level", "Warning");
            extra.Add(n);
            events.Add($"{sw.Elapsed.TotalSeconds:F1}s start {n.Id}");
        }
        foreach (NodeProcess n in extra) await n.WaitReadyAsync(TimeSpan.FromSeconds(60));
        await extra[0].StopAsync(TimeSpan.FromSeconds(30));
        events.Add($"{sw.Elapsed.TotalSeconds:F1}s graceful stop {extra[0].Id}");
        extra[1].Kill();
        events.Add($"{sw.Elapsed.TotalSeconds:F1}s kill -9 {extra[1].Id}");
        LoadResult r = await load;
        foreach (NodeProcess n in extra) await n.DisposeAsync();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"churn: 8 readers on node 0 while 2 nodes joined, 1 left and 1 was killed: {r.Requests} reads, {r.Errors} errors, p99 {r.P99Ms:F2} ms"));
        return new JsonObject { ["reads"] = r.Requests, ["errors"] = r.Errors, ["p99_ms"] = Math.Round(r.P99Ms, 3), ["events"] = events };
    }
}
