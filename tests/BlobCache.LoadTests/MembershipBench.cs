using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BlobCache.Testing;

namespace BlobCache.LoadTests;

/// <summary>Sizes of the membership comparison: members per implementation and how long each phase lasts.</summary>
/// <remarks>
/// Detection is measured over several kills, each at its own random point of the probe period: a member's probes
/// come once a protocol period, so one kill's detection time depends on where in the period it lands (up to a
/// second either way) as much as on the protocol. The delays come from a fixed seed, the same for both implementations.
/// </remarks>
public sealed record MembershipSize(int Nodes, TimeSpan Settle, TimeSpan Idle, int Kills, TimeSpan[] Pauses, TimeSpan AfterPause)
{
    public static MembershipSize Full { get; } = new(32, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(30), 5, [TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(12)], TimeSpan.FromSeconds(20));
    public static MembershipSize Tiny { get; } = new(4, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(3), 1, [], TimeSpan.Zero);
}

/// <summary>
/// `bench --only membership`: N hashicorp/memberlist members (DefaultLANConfig, the settings BlobCache's timings
/// follow) and then N BlobCache nodes on loopback, each put through the same phases one implementation at a time:
/// start and converge, sit idle (CPU, RSS, gossip bytes), lose a member to kill -9 (detection time at every
/// other member) and pause members with SIGSTOP (deaths declared for a member that was only slow).
/// </summary>
public static class MembershipBench
{
    public static async Task RunAsync(MembershipSize size, JsonObject results)
    {
        var rows = new List<MembershipResult>();
        (string? binary, string? why) = await BuildReferenceAsync();
        if (binary is null) Step($"memberlist reference not measured: {why}");
        else
        {
            await using var ml = new MemberlistCluster(binary, size.Nodes);
            rows.Add(await MeasureAsync("memberlist", ml, size));
        }
        // BLOBCACHE_NODE_BINARY (NodeProgram.Variable) puts the native build in the JIT build's place.
        string blobcache = NodeProgram.Default.Native is null ? "blobcache" : "bc-native";
        await using (var bc = new BlobCacheCluster(size.Nodes)) rows.Add(await MeasureAsync(blobcache, bc, size));

        Console.WriteLine();
        Console.WriteLine($"membership at N = {size.Nodes} on loopback, one implementation at a time (idle: {size.Idle.TotalSeconds:F0} s, no reads)");
        Console.WriteLine($"{"impl",-11} {"converge s",10} {"CPU %/node",10} {"RSS MiB",8} {"anon",6} {"PSS",6} {"gossip B/s/node",15} {"detect p50",10} {"p99",6} {"max",6} {"seen by",8} " +
            string.Join(' ', size.Pauses.Select(p => $"{"deaths " + p.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture) + "s stop",14}")));
        foreach (MembershipResult r in rows)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Implementation,-11} {r.ConvergeSeconds,10:F2} {r.CpuPercentPerNode,10:F2} {r.RssMiB,8:F1} {r.RssAnonMiB,6:F1} {r.PssMiB,6:F1} {Bytes(r.GossipBytesPerSecondPerNode),15} {r.DetectP50Seconds,10:F2} {r.DetectP99Seconds,6:F2} {r.DetectMaxSeconds,6:F2} {r.DetectedBy + "/" + Expected(size),8} ") +
                string.Join(' ', r.PauseDeaths.Select(d => $"{d,14}")));
        }
        Console.WriteLine("RSS: all resident pages; anon: the process's own memory; PSS: shared library pages divided among the members that map them");
        Console.WriteLine("gossip B/s: bytes sent by packet and by stream per node per second while idle (memberlist: UDP + TCP push-pull)");
        Console.WriteLine("deaths: how many members declared a SIGSTOPped (only slow) member dead; detection: kill -9 to each member's death event, over " + size.Kills + " kills at random points of the probe period");
        results["membership"] = JsonSerializer.SerializeToNode(rows);
    }

    // Every kill is to be seen by every member still running.
    private static int Expected(MembershipSize size) => Enumerable.Range(0, size.Kills).Sum(k => size.Nodes - 1 - k);

    private static string Bytes(double? v) => v is { } b ? b.ToString("F0", CultureInfo.InvariantCulture) : "n/a";

    private static void Step(string what) => Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] membership: {what}");

    private static async Task<MembershipResult> MeasureAsync(string name, IMemberCluster cluster, MembershipSize size)
    {
        int n = size.Nodes;
        Step($"{name}: starting {n} members");
        var clock = Stopwatch.StartNew();
        await cluster.StartAsync();
        TimeSpan started = clock.Elapsed;
        await Wait.UntilAsync(async () =>
        {
            for (int i = 0; i < n; i++)
            {
                if (await cluster.LiveSeenByAsync(i) != n) return false;
            }
            return true;
        }, TimeSpan.FromSeconds(120), $"{name}: every member to see {n} live members");
        double converge = (clock.Elapsed - started).TotalSeconds;

        Step($"{name}: converged in {converge:F2} s; settling, then {size.Idle.TotalSeconds:F0} s idle");
        await Task.Delay(size.Settle);
        double[] cpu0 = Enumerable.Range(0, n).Select(i => ProcessCpu.Seconds(cluster.Pid(i))).ToArray();
        long?[] bytes0 = await Task.WhenAll(Enumerable.Range(0, n).Select(cluster.GossipBytesSentAsync));
        var idle = Stopwatch.StartNew();
        await Task.Delay(size.Idle);
        double seconds = idle.Elapsed.TotalSeconds;
        double[] cpu1 = Enumerable.Range(0, n).Select(i => ProcessCpu.Seconds(cluster.Pid(i))).ToArray();
        long?[] bytes1 = await Task.WhenAll(Enumerable.Range(0, n).Select(cluster.GossipBytesSentAsync));
        double cpuPercent = Enumerable.Range(0, n).Average(i => (cpu1[i] - cpu0[i]) / seconds * 100);
        double rss = Enumerable.Range(0, n).Average(i => ProcessMemory.MiB(cluster.Pid(i), "status", "VmRSS:"));
        double anon = Enumerable.Range(0, n).Average(i => ProcessMemory.MiB(cluster.Pid(i), "status", "RssAnon:"));
        double pss = Enumerable.Range(0, n).Average(i => ProcessMemory.MiB(cluster.Pid(i), "smaps_rollup", "Pss:"));
        double? gossip = bytes0.Concat(bytes1).Any(b => b is null) ? null : Enumerable.Range(0, n).Average(i => (double)(bytes1[i]!.Value - bytes0[i]!.Value) / seconds);

        var detections = new List<double>();
        int declared = 0;
        var phase = new Random(1);
        for (int k = 0; k < size.Kills; k++)
        {
            int victim = n - 1 - k;
            await Task.Delay(TimeSpan.FromMilliseconds(phase.Next(1000)));
            Step($"{name}: kill -9 of member {victim}");
            double[] times = await KillAsync(name, cluster, victim, Enumerable.Range(0, n - k).Where(i => i != victim).ToArray());
            detections.AddRange(times);
            declared += times.Length;
        }
        double[] detect = detections.Order().ToArray();

        var pauseDeaths = new List<int>();
        for (int p = 0; p < size.Pauses.Length; p++)
        {
            int slow = n - 1 - size.Kills - p;
            Step($"{name}: SIGSTOP of member {slow} for {size.Pauses[p].TotalSeconds:F0} s");
            cluster.Signal(slow, "STOP");
            await Task.Delay(size.Pauses[p]);
            cluster.Signal(slow, "CONT");
            await Task.Delay(size.AfterPause);
            pauseDeaths.Add(cluster.DeathsOf(slow).Select(d => d.Observer).Distinct().Count());
        }
        return new MembershipResult(name, n, converge, cpuPercent, rss, anon, pss, gossip,
            Percentile(detect, 0.5), Percentile(detect, 0.99), detect.Length > 0 ? detect[^1] : double.NaN, declared, pauseDeaths.ToArray());
    }

    /// <summary>Kills <paramref name="victim"/>; how long each of <paramref name="observers"/> that declared it dead took, sorted.</summary>
    private static async Task<double[]> KillAsync(string name, IMemberCluster cluster, int victim, int[] observers)
    {
        long killedAt = Stopwatch.GetTimestamp();
        cluster.Kill(victim);
        try
        {
            await Wait.UntilAsync(() => Task.FromResult(observers.All(o => cluster.DeathsOf(victim).Any(d => d.Observer == o))),
                TimeSpan.FromSeconds(90), $"{name}: every member to declare member {victim} dead");
        }
        catch (TimeoutException e)
        {
            Step(e.Message);
        }
        double[] seconds = observers.Select(o => cluster.DeathsOf(victim).Where(d => d.Observer == o).Select(d => Stopwatch.GetElapsedTime(killedAt, d.At).TotalSeconds).DefaultIfEmpty(double.NaN).Min())
            .Where(double.IsFinite).Order().ToArray();
        if (seconds.Length > 0) Step($"{name}: member {victim} declared dead by {seconds.Length} after {seconds[0]:F2} s (first), {Percentile(seconds, 0.5):F2} s (median), {seconds[^1]:F2} s (last)");
        return seconds;
    }

    private static double Percentile(double[] sorted, double q) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

    /// <summary>Builds tools/memberlist-ref against Debian's Go and memberlist packages, offline; null and why when it cannot.</summary>
    private static async Task<(string? Binary, string? Why)> BuildReferenceAsync()
    {
        const string gopath = "/usr/share/gocode";
        if (!Directory.Exists(Path.Combine(gopath, "src/github.com/hashicorp/memberlist")))
            return (null, "Debian's golang-github-hashicorp-memberlist-dev is not installed");
        string output = Path.Combine(Directory.CreateTempSubdirectory("blobcache-memberlist-").FullName, "memberlist-ref");
        var psi = new ProcessStartInfo("go", ["build", "-o", output, "."])
        {
            WorkingDirectory = Path.Combine(Repo.Root, "tools", "memberlist-ref"),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["GO111MODULE"] = "off";
        psi.Environment["GOPATH"] = gopath;
        psi.Environment["GOCACHE"] = Path.Combine(Path.GetTempPath(), "blobcache-gocache");
        psi.Environment["GOFLAGS"] = "";
        Process go;
        try
        {
            go = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return (null, "Debian's golang-go is not installed (no `go` on PATH)");
        }
        using (go)
        {
            Task<string> err = go.StandardError.ReadToEndAsync();
            await go.StandardOutput.ReadToEndAsync();
            using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            await go.WaitForExitAsync(deadline.Token);
            return go.ExitCode == 0 ? (output, null) : (null, $"go build failed: {await err}");
        }
    }
}

public sealed record MembershipResult(string Implementation, int Nodes, double ConvergeSeconds, double CpuPercentPerNode, double RssMiB, double RssAnonMiB, double PssMiB,
    double? GossipBytesPerSecondPerNode, double DetectP50Seconds, double DetectP99Seconds, double DetectMaxSeconds, int DetectedBy, int[] PauseDeaths);

/// <summary>One member declared another dead, seen by the harness at <see cref="At"/> (a Stopwatch timestamp).</summary>
public readonly record struct Death(int Observer, long At);

/// <summary>What the membership phases need of N members of one implementation on loopback.</summary>
internal interface IMemberCluster : IAsyncDisposable
{
    Task StartAsync();
    int Pid(int member);
    Task<int> LiveSeenByAsync(int member);
    /// <summary>Gossip bytes the member has sent so far (packets and streams), or null when it does not say.</summary>
    Task<long?> GossipBytesSentAsync(int member);
    IReadOnlyList<Death> DeathsOf(int member);
    void Kill(int member);
    void Signal(int member, string signal);
}

/// <summary>Shared bookkeeping: who declared whom dead, with the harness's own clock.</summary>
internal abstract class ClusterBase(int count)
{
    private readonly List<Death>[] _deaths = Enumerable.Range(0, count).Select(_ => new List<Death>()).ToArray();

    protected int Count { get; } = count;

    protected void Declared(int victim, int observer)
    {
        if (victim < 0 || victim >= _deaths.Length) return;
        lock (_deaths) _deaths[victim].Add(new Death(observer, Stopwatch.GetTimestamp()));
    }

    public IReadOnlyList<Death> DeathsOf(int member)
    {
        lock (_deaths) return _deaths[member].ToArray();
    }

    public void Signal(int member, string signal)
    {
        // A member already killed has no process to signal: kill's complaint about that is not news.
        var psi = new ProcessStartInfo("kill", [$"-{signal}", Pid(member).ToString(CultureInfo.InvariantCulture)]) { RedirectStandardError = true };
        using Process? kill = Process.Start(psi);
        kill?.StandardError.ReadToEnd();
        kill?.WaitForExit();
    }

    public abstract int Pid(int member);
}

/// <summary>N tools/memberlist-ref processes; each prints its membership events and byte counts as JSON lines.</summary>
internal sealed class MemberlistCluster(string binary, int count) : ClusterBase(count), IMemberCluster
{
    private readonly Process[] _processes = new Process[count];
    private readonly int[] _live = new int[count];
    private readonly long[] _sent = new long[count];

    public Task StartAsync()
    {
        int[] ports = Enumerable.Range(0, Count).Select(_ => Ports.Next()).ToArray();
        for (int i = 0; i < Count; i++)
        {
            var psi = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string a in new[] { "-name", $"m{i}", "-port", ports[i].ToString(CultureInfo.InvariantCulture) }) psi.ArgumentList.Add(a);
            if (i > 0) psi.ArgumentList.Add($"-join=127.0.0.1:{ports[0]}");
            Process p = Process.Start(psi)!;
            int self = i;
            p.OutputDataReceived += (_, e) => OnLine(self, e.Data);
            p.ErrorDataReceived += (_, _) => { };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            _processes[i] = p;
        }
        return Task.CompletedTask;
    }

    private void OnLine(int observer, string? line)
    {
        if (string.IsNullOrEmpty(line)) return;
        JsonNode? j;
        try
        {
            j = JsonNode.Parse(line);
        }
        catch (JsonException)
        {
            return;
        }
        if (j?["event"]?.GetValue<string>() is { } kind)
        {
            string node = j["node"]!.GetValue<string>();
            if (kind == "join") Interlocked.Increment(ref _live[observer]);
            if (kind == "leave")
            {
                Interlocked.Decrement(ref _live[observer]);
                Declared(int.Parse(node.AsSpan(1), CultureInfo.InvariantCulture), observer);
            }
        }
        else if (j?["udp_out"] is not null)
        {
            Volatile.Write(ref _sent[observer], j["udp_out"]!.GetValue<long>() + j["tcp_out"]!.GetValue<long>());
        }
    }

    public override int Pid(int member) => _processes[member].Id;
    public Task<int> LiveSeenByAsync(int member) => Task.FromResult(Volatile.Read(ref _live[member]));
    public Task<long?> GossipBytesSentAsync(int member) => Task.FromResult<long?>(Volatile.Read(ref _sent[member]));
    public void Kill(int member) => _processes[member].Kill();

    public async ValueTask DisposeAsync()
    {
        foreach (Process p in _processes.Where(p => p is not null))
        {
            if (!p.HasExited) p.Kill();
            await p.WaitForExitAsync();
            p.Dispose();
        }
    }
}

/// <summary>N `blobcache run` nodes over the built-in sample origin; deaths come from each node's own log.</summary>
internal sealed partial class BlobCacheCluster(int count) : ClusterBase(count), IMemberCluster
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly NodeProcess[] _nodes = new NodeProcess[count];
    private readonly int[] _logRead = new int[count];
    private readonly CancellationTokenSource _stop = new();
    private Task? _watch;

    [GeneratedRegex(@"member b(\d+) Dead")]
    private static partial Regex DeadLine();

    public Task StartAsync()
    {
        for (int i = 0; i < Count; i++)
        {
            // Warnings only: a member's death is a warning, and the log is how the harness learns of it. Plain-text
            // gossip (--insecure), as memberlist-ref runs without a secret key: the same settings, the same bytes counted.
            _nodes[i] = NodeProcess.Start($"b{i}", "sample", i == 0 ? [] : [_nodes[0].GossipAddress], "--insecure", "--log-level", "Warning", "--memory-mb", "64");
        }
        _watch = Task.Run(WatchLogsAsync);
        return Task.CompletedTask;
    }

    // The nodes' output is collected in memory as it comes; scanning it every 20 ms timestamps each death that closely.
    private async Task WatchLogsAsync()
    {
        using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
        while (await tick.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
        {
            for (int i = 0; i < Count; i++)
            {
                string log = _nodes[i].Log;
                if (log.Length <= _logRead[i]) continue;
                foreach (Match m in DeadLine().Matches(log, _logRead[i])) Declared(int.Parse(m.Groups[1].ValueSpan, CultureInfo.InvariantCulture), i);
                _logRead[i] = log.LastIndexOf('\n') + 1;
            }
        }
    }

    public override int Pid(int member) => _nodes[member].Pid;

    public async Task<int> LiveSeenByAsync(int member) => (await _nodes[member].StatusAsync()).LiveMembers;

    public async Task<long?> GossipBytesSentAsync(int member)
    {
        NodeProcess node = _nodes[member];
        JsonNode? status = JsonNode.Parse(await Http.GetStringAsync($"http://{node.Host}:{node.HttpPort}/status"));
        JsonNode? transfers = status?["gossip_transfers"];
        return transfers?["datagram_bytes_sent"]?.GetValue<long>() is { } sent ? sent + (transfers["stream_bytes_sent"]?.GetValue<long>() ?? 0) : null;
    }

    public void Kill(int member) => _nodes[member].Kill();

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        if (_watch is not null)
        {
            try
            {
                await _watch;
            }
            catch (OperationCanceledException)
            {
            }
        }
        foreach (NodeProcess n in _nodes.Where(n => n is not null))
        {
            Signal(Array.IndexOf(_nodes, n), "CONT");
            await n.DisposeAsync();
        }
    }
}
