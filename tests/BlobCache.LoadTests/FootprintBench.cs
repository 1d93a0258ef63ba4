using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BlobCache.Testing;

namespace BlobCache.LoadTests;

/// <summary>Sizes of the footprint comparison: timed starts, members of the idle mesh, settle and idle windows.</summary>
public sealed record FootprintSize(int Starts, int Members, TimeSpan Settle, TimeSpan Idle)
{
    public static FootprintSize Full { get; } = new(5, 3, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(60));
    public static FootprintSize Tiny { get; } = new(2, 2, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3));
}

/// <summary>
/// `bench --only footprint`: what a node costs at rest, the JIT build against the native (NativeAOT) build when one is
/// published (<see cref="NodeProgram.NativeBuild"/>), one after the other in the same run. A small mesh on the
/// built-in origin sits idle (no reads): CPU per node, resident memory split into anonymous (the process's own) and
/// file-backed (code and data mapped from the runtime, libraries and the executable); then nodes are started one at a
/// time with the mesh's first member as their seed, timed from exec to the first 200 from /readyz.
/// </summary>
public static class FootprintBench
{
    public static async Task RunAsync(FootprintSize size, JsonObject results)
    {
        var builds = new List<(string Name, NodeProgram Program)> { ("jit", NodeProgram.Jit) };
        if (NodeProgram.NativeBuild is { } native) builds.Add(("aot", native));
        else Step($"no native build to compare (publish one, or name it in {NodeProgram.Variable}): the JIT build only");
        var rows = new List<FootprintResult>();
        foreach ((string name, NodeProgram program) in builds) rows.Add(await MeasureAsync(name, program, size));

        Console.WriteLine();
        Console.WriteLine($"footprint: {size.Members} idle nodes on the built-in origin ({size.Idle.TotalSeconds:F0} s after {size.Settle.TotalSeconds:F0} s settling), " +
            $"exec to /readyz with a seed up ({size.Starts} starts); load average {LoadAverage()}");
        Console.WriteLine($"{"build",-6} {"RSS MiB",8} {"anon",6} {"file",6} {"CPU %/node",10} {"ready s p50",11} {"min",6} {"max",6}");
        foreach (FootprintResult r in rows)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Build,-6} {r.RssMiB,8:F1} {r.AnonMiB,6:F1} {r.FileMiB,6:F1} {r.CpuPercentPerNode,10:F2} {r.ReadySecondsP50,11:F3} {r.ReadySecondsMin,6:F3} {r.ReadySecondsMax,6:F3}"));
        }
        Console.WriteLine("RSS = anon + file, per node (smaps_rollup); CPU: user + system time over the idle window");
        results["footprint"] = JsonSerializer.SerializeToNode(rows);
    }

    private static void Step(string what) => Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] footprint: {what}");

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    private static NodeProcess Start(NodeProgram program, string id, IReadOnlyList<string> seeds) =>
        NodeProcess.StartProgram(program, NodePorts.Next(), [], id, "sample", seeds, "--insecure", "--log-level", "Warning", "--memory-mb", "64");

    private static async Task<FootprintResult> MeasureAsync(string build, NodeProgram program, FootprintSize size)
    {
        Step($"{build}: {size.Members} nodes of {program}");
        var mesh = new List<NodeProcess>();
        try
        {
            for (int i = 0; i < size.Members; i++) mesh.Add(Start(program, $"{build}-{i}", i == 0 ? [] : [mesh[0].GossipAddress]));
            await NodeProcess.WaitJoinedAsync(mesh);
            await Task.Delay(size.Settle);

            double[] cpu0 = mesh.Select(n => ProcessCpu.Seconds(n.Pid)).ToArray();
            var idle = Stopwatch.StartNew();
            await Task.Delay(size.Idle);
            double seconds = idle.Elapsed.TotalSeconds;
            double cpu = mesh.Select((n, i) => (ProcessCpu.Seconds(n.Pid) - cpu0[i]) / seconds * 100).Average();
            double rss = mesh.Average(n => ProcessMemory.MiB(n.Pid, "smaps_rollup", "Rss:"));
            double anon = mesh.Average(n => ProcessMemory.MiB(n.Pid, "smaps_rollup", "Anonymous:"));
            Step($"{build}: idle {cpu:F2} %/node, RSS {rss:F1} MiB ({anon:F1} anon); timing {size.Starts} starts");

            var ready = new List<double>();
            for (int i = 0; i < size.Starts; i++)
            {
                var clock = Stopwatch.StartNew();
                NodeProcess node = Start(program, $"{build}-start-{i}", [mesh[0].GossipAddress]);
                try
                {
                    await node.WaitReadyAsync(TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(5));
                    ready.Add(clock.Elapsed.TotalSeconds);
                    // Leaves the mesh as it found it: the next start joins the same members.
                    await node.StopAsync(TimeSpan.FromSeconds(30));
                }
                finally
                {
                    await node.DisposeAsync();
                }
            }
            ready.Sort();
            return new FootprintResult(build, program.ToString(), rss, anon, rss - anon, cpu, ready[ready.Count / 2], ready[0], ready[^1]);
        }
        finally
        {
            foreach (NodeProcess n in mesh) await n.DisposeAsync();
        }
    }
}

public sealed record FootprintResult(string Build, string Command, double RssMiB, double AnonMiB, double FileMiB, double CpuPercentPerNode,
    double ReadySecondsP50, double ReadySecondsMin, double ReadySecondsMax);
