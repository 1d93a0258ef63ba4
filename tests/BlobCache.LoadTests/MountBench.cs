using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BlobCache.Fuse;
using BlobCache.Testing;
using static BlobCache.LoadTests.BenchOutput;

namespace BlobCache.LoadTests;

/// <summary>
/// `bench --only mount`: the same blob read three ways on this machine, in one run: through a node's local endpoint
/// (the closed-loop reader of the local-hit rows), through the same node's FUSE mount (Debian's fio, direct I/O, so
/// every read goes to the node rather than the kernel's page cache), and from a local disk file with the same
/// bytes (fio, page cache warm: the bound a local path can give). Sequential 4 MiB reads and random 64 KiB reads.
/// </summary>
public static class MountBench
{
    /// <summary>The issue's targets: mount / endpoint for sequential 4 MiB and random 64 KiB reads.</summary>
    private const double SequentialTarget = 0.8, RandomTarget = 0.5;

    public static async Task RunAsync(BenchSize size, JsonObject results, Azurite azurite, string container, string localFile, long length)
    {
        if (!File.Exists("/dev/fuse"))
        {
            Console.WriteLine("mount: skipped, /dev/fuse is absent");
            return;
        }
        using var dir = new TempDir("blobcache-bench-mount-");
        await using NodeProcess node = NodeProcess.Start("bench-mount", azurite.ConnectionString, [], "--memory-mb", "2048", "--log-level", "Warning",
            "--mount", $"{Azurite.Account}/{container}:{dir.Path}");
        try
        {
            await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
            await Wait.UntilAsync(() => Task.FromResult(MountTable.Find(dir.Path)?.Type == "fuse.blobcache"), TimeSpan.FromSeconds(30), "the mount");
            string mounted = Path.Combine(dir.Path, Path.GetFileName(localFile));
            Step("mount: loading the blob into the node through the mount, and the local file into the page cache");
            await ReadWholeAsync(mounted);
            await ReadWholeAsync(localFile);

            var rows = new JsonArray();
            var table = new List<(string Pattern, int Readers, string Target, double MiBs, double P50Ms, double P99Ms)>();
            foreach ((string pattern, int block) in new[] { ("sequential", 4 << 20), ("random", 64 << 10) })
            {
                foreach (int readers in size.Concurrency.Where(c => c <= 8))
                {
                    Step($"mount: {pattern} {block >> 10} KiB, {readers} readers: endpoint, mount, local disk");
                    LoadResult endpoint = await ReadLoad.RunAsync("endpoint", $"{node.Endpoint}/{container}/{Path.GetFileName(localFile)}", length, block, readers,
                        size.WarmUp, size.Duration, seed: readers);
                    table.Add((pattern, readers, "endpoint", endpoint.MiBPerSecond, endpoint.P50Ms, endpoint.P99Ms));
                    (double mib, double p50, double p99) = await FioAsync(mounted, length, pattern, block, readers, direct: true, size);
                    table.Add((pattern, readers, "mount", mib, p50, p99));
                    (mib, p50, p99) = await FioAsync(localFile, length, pattern, block, readers, direct: false, size);
                    table.Add((pattern, readers, "local disk", mib, p50, p99));
                }
            }
            Console.WriteLine();
            Console.WriteLine("mount (one node: its endpoint by the local-hit reader, its FUSE mount by fio with direct I/O, the same bytes in a local file by fio from the page cache)");
            Console.WriteLine($"{"pattern",-10} {"readers",7} {"target",-10} {"MiB/s",9} {"p50 ms",8} {"p99 ms",8} {"vs endpoint",11}");
            foreach (var r in table)
            {
                double baseline = table.First(b => b.Target == "endpoint" && b.Pattern == r.Pattern && b.Readers == r.Readers).MiBs;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{r.Pattern,-10} {r.Readers,7} {r.Target,-10} {r.MiBs,9:F0} {r.P50Ms,8:F2} {r.P99Ms,8:F2} {r.MiBs / Math.Max(0.001, baseline),10:P0}"));
                rows.Add(new JsonObject
                {
                    ["pattern"] = r.Pattern, ["readers"] = r.Readers, ["target"] = r.Target, ["mib_s"] = Math.Round(r.MiBs, 1),
                    ["p50_ms"] = Math.Round(r.P50Ms, 3), ["p99_ms"] = Math.Round(r.P99Ms, 3),
                });
            }
            double Ratio(string pattern) => table.Where(r => r.Pattern == pattern && r.Target == "mount")
                .Min(r => r.MiBs / Math.Max(0.001, table.First(b => b.Target == "endpoint" && b.Pattern == pattern && b.Readers == r.Readers).MiBs));
            double sequential = Ratio("sequential"), random = Ratio("random");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"mount / endpoint, worst over readers: sequential 4 MiB {sequential:F2} (target {SequentialTarget}), random 64 KiB {random:F2} (target {RandomTarget})"));
            Console.WriteLine();
            results["mount"] = new JsonObject
            {
                ["sequential_ratio_to_endpoint"] = Math.Round(sequential, 3),
                ["random_ratio_to_endpoint"] = Math.Round(random, 3),
                ["sequential_target"] = SequentialTarget,
                ["random_target"] = RandomTarget,
                ["runs"] = rows,
            };
        }
        finally
        {
            await node.StopAsync(TimeSpan.FromSeconds(30));
        }
    }


    private static async Task ReadWholeAsync(string path)
    {
        await using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        await f.CopyToAsync(Stream.Null);
    }

    /// <summary>
    /// One fio run: <paramref name="readers"/> jobs of synchronous reads; sequential jobs each read their own slice of
    /// the file, round and round. Returns MiB/s and completion-latency percentiles.
    /// </summary>
    private static async Task<(double MiBs, double P50Ms, double P99Ms)> FioAsync(string file, long length, string pattern, int block, int readers, bool direct, BenchSize size)
    {
        long slice = length / readers / block * block;
        var args = new List<string>
        {
            "--name=read", $"--filename={file}", "--readonly", "--ioengine=psync", $"--rw={(pattern == "sequential" ? "read" : "randread")}",
            $"--bs={block}", $"--numjobs={readers}", "--group_reporting", "--time_based", "--output-format=json",
            $"--direct={(direct ? 1 : 0)}", "--invalidate=0", // the local file stays in the page cache; the mount's reads bypass it
            string.Create(CultureInfo.InvariantCulture, $"--ramp_time={Math.Max(1, size.WarmUp.TotalSeconds):F0}"),
            string.Create(CultureInfo.InvariantCulture, $"--runtime={Math.Max(1, size.Duration.TotalSeconds):F0}"),
        };
        if (pattern == "sequential") args.AddRange([$"--size={slice}", $"--offset_increment={slice}"]);
        var psi = new ProcessStartInfo("fio") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) psi.ArgumentList.Add(a);
        using Process fio = Process.Start(psi) ?? throw new InvalidOperationException("fio is not installed (Debian: apt-get install fio; .ci/run does)");
        Task<string> stdout = fio.StandardOutput.ReadToEndAsync(), stderr = fio.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await fio.WaitForExitAsync(deadline.Token);
        if (fio.ExitCode != 0) throw new InvalidOperationException($"fio on {file} exited with {fio.ExitCode}: {await stderr}");
        JsonNode read = JsonNode.Parse(await stdout)!["jobs"]![0]!["read"]!;
        JsonNode? percentiles = read["clat_ns"]?["percentile"];
        double Percentile(string p) => percentiles?[p]?.GetValue<double>() / 1e6 ?? 0;
        return (read["bw_bytes"]!.GetValue<double>() / 1048576.0, Percentile("50.000000"), Percentile("99.000000"));
    }
}
