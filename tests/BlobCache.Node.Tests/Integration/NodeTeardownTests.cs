using System.Net;
using System.Net.Sockets;
using BlobCache.Node.Config;
using BlobCache.Node.Hosting;
using BlobCache.Testing;
using Xunit.Abstractions;

namespace BlobCache.Node.Tests.Integration;

/// <summary>Alone in the test process: the tests below count the process's own descriptors and threads.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class InProcessNodeCollection
{
    public const string Name = "in-process node";
}

/// <summary>
/// A node started and stopped inside the test process, as a host that embeds it would: every way out (a stop, a
/// start that fails half-way) must close what the start built, or a long-lived process leaks with each restart.
/// </summary>
[Collection(InProcessNodeCollection.Name)]
public sealed class NodeTeardownTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private static NodeOptions Options(NodePorts ports, string server = "loop") => OptionParser.Parse(
    [
        "--node-id", "teardown", "--http-server", server, "--host", "127.0.0.1", "--origin", "sample", "--insecure", "--memory-mb", "64", "--log-level", "Warning",
        "--http-port", $"{ports.Http}", "--grpc-port", $"{ports.Grpc}", "--gossip-port", $"{ports.Gossip}", "--udp-port", $"{ports.Udp}",
    ], new Dictionary<string, string?>());

    /// <summary>Starts a node, reads a range through it, stops it; the node must have answered and stopped cleanly.</summary>
    private static async Task RunOnceAsync(NodePorts ports, string server = "loop")
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var stop = new CancellationTokenSource();
        Task<int> node = NodeHost.RunAsync(Options(ports, server), stop.Token);
        await Wait.UntilAsync(async () => node.IsCompleted || (await http.GetAsync($"http://127.0.0.1:{ports.Http}/healthz")).IsSuccessStatusCode,
            Deadline, "the node to answer /healthz");
        Assert.False(node.IsCompleted, $"the node stopped by itself (exit {(node.IsCompleted ? await node : 0)})");
        using var range = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{ports.Http}/devstoreaccount1/sample/shard-000.bin");
        range.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(0, 65_535);
        using HttpResponseMessage read = await http.SendAsync(range);
        Assert.Equal(HttpStatusCode.PartialContent, read.StatusCode);
        Assert.Equal(65_536, (await read.Content.ReadAsByteArrayAsync()).Length);
        await stop.CancelAsync();
        Assert.Equal(0, await node.WaitAsync(Deadline));
    }

    /// <summary>A start refused half-way: gossip and the UDP chunk port are bound by the time the gRPC port is found taken.</summary>
    private static async Task RefusedStartAsync(NodePorts ports, string server = "loop")
    {
        using var taken = new TcpListener(IPAddress.Loopback, ports.Grpc);
        taken.Start();
        Assert.Equal(2, await NodeHost.RunAsync(Options(ports, server)).WaitAsync(Deadline));
    }

    /// <summary>
    /// Sockets, pipes and kernel objects (epoll, eventfd, inotify, timers) this process holds, and its threads. Files
    /// are left out (the runtime maps an assembly the first time any code needs it), and so are the thread pool's
    /// workers, which come and go with load.
    /// </summary>
    private static (int Fds, int Threads) Footprint()
    {
        // What nothing references any more is not held: a socket the framework dropped without closing (Kestrel's
        // listener when its bind fails) closes in its finalizer.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return (DescriptorKinds().Values.Sum(), Directory.GetDirectories("/proc/self/task").Length - ThreadPool.ThreadCount);
    }

    /// <summary>The open descriptors that are not files, by kind (socket, pipe, anon_inode:[eventpoll], …).</summary>
    private static Dictionary<string, int> DescriptorKinds()
    {
        var kinds = new Dictionary<string, int>();
        foreach (string fd in Directory.GetFiles("/proc/self/fd"))
        {
            string kind;
            try
            {
                string target = new FileInfo(fd).LinkTarget ?? "?";
                int bracket = target.IndexOf(":[", StringComparison.Ordinal);
                kind = target.StartsWith("anon_inode:", StringComparison.Ordinal) || bracket < 0 ? target : target[..bracket]; // socket:[inode] → socket
            }
            catch (IOException)
            {
                continue; // closed while listed
            }
            if (kind.StartsWith('/')) continue;
            kinds[kind] = kinds.GetValueOrDefault(kind) + 1;
        }
        return kinds;
    }

    private static string Grown(Dictionary<string, int> before, Dictionary<string, int> after) => string.Join(", ",
        after.Where(k => k.Value > before.GetValueOrDefault(k.Key)).Select(k => $"{k.Key} +{k.Value - before.GetValueOrDefault(k.Key)}"));

    [Theory]
    [InlineData("loop")]
    [InlineData("kestrel")]
    public async Task A_start_that_fails_half_way_releases_what_it_built_so_a_second_start_on_the_same_ports_works(string server)
    {
        NodePorts ports = NodePorts.Next();
        await RefusedStartAsync(ports, server);
        await RunOnceAsync(ports, server);
        (int fds, int threads) = Footprint();
        Dictionary<string, int> kinds = DescriptorKinds();
        for (int i = 0; i < 5; i++) await RefusedStartAsync(ports, server);
        (int fdsAfter, int threadsAfter) = Footprint();
        output.WriteLine($"before 5 refused starts: {fds} descriptors (not files), {threads} threads outside the pool; after: {fdsAfter}, {threadsAfter}");
        Assert.True(fdsAfter <= fds + 2, $"descriptors grew from {fds} to {fdsAfter} over 5 refused starts: {Grown(kinds, DescriptorKinds())}");
        Assert.True(threadsAfter <= threads + 2, $"threads grew from {threads} to {threadsAfter} over 5 refused starts");
        await RunOnceAsync(ports, server);
    }

    [Fact]
    public async Task Twenty_starts_and_stops_in_one_process_leave_no_descriptors_or_threads_behind()
    {
        NodePorts ports = NodePorts.Next();
        // The first rounds load code and fill process-wide pools: count from after them.
        for (int i = 0; i < 2; i++)
        {
            await RefusedStartAsync(ports);
            await RunOnceAsync(ports);
        }
        (int fds, int threads) = Footprint();
        Dictionary<string, int> kinds = DescriptorKinds();
        for (int i = 2; i < 20; i++)
        {
            await RefusedStartAsync(ports);
            await RunOnceAsync(ports);
        }
        (int fdsAfter, int threadsAfter) = Footprint();
        output.WriteLine($"after 2 rounds: {fds} descriptors (not files), {threads} threads outside the pool; after 20: {fdsAfter}, {threadsAfter}");
        // A leak of one descriptor or thread per round would add 18; some slack for what the runtime opens lazily.
        Assert.True(fdsAfter <= fds + 6, $"descriptors grew from {fds} to {fdsAfter} over 18 start/stop rounds: {Grown(kinds, DescriptorKinds())}");
        Assert.True(threadsAfter <= threads + 6, $"threads grew from {threads} to {threadsAfter} over 18 start/stop rounds");
    }
}
