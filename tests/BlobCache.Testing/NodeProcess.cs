using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using Azure.Storage.Blobs;
using BlobCache.Node.Hosting;
using BlobCache.Protocol.Security;

namespace BlobCache.Testing;

/// <summary>One real `blobcache run` process on loopback ports of its own.</summary>
public sealed class NodeProcess : IAsyncDisposable
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    public string Id { get; }
    /// <summary>The address the node binds (127.0.0.1 unless started with <c>--host</c>, e.g. inside a network namespace).</summary>
    public string Host { get; }
    public int HttpPort { get; }
    public int GossipPort { get; }
    public int GrpcPort { get; }
    public int UdpPort { get; }
    public string GossipAddress => $"{Host}:{GossipPort}";
    public string Endpoint => $"http://{Host}:{HttpPort}/{Azurite.Account}";
    public bool HasExited => _process.HasExited;
    public int Pid => _process.Id;
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    public string Log
    {
        get
        {
            lock (_log) return _log.ToString();
        }
    }

    /// <summary>The last <paramref name="lines"/> lines the node wrote, for a failing test's message.</summary>
    public string LogTail(int lines)
    {
        string[] all = Log.Split('\n');
        return string.Join('\n', all[Math.Max(0, all.Length - lines)..]);
    }

    private NodeProcess(string id, string host, int httpPort, int grpcPort, int gossipPort, int udpPort, Process process)
    {
        Id = id;
        Host = host;
        HttpPort = httpPort;
        GrpcPort = grpcPort;
        GossipPort = gossipPort;
        UdpPort = udpPort;
        _process = process;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_log) _log.AppendLine(line);
    }

    private static readonly Lazy<(string Path, Keyring Ring)> TestKeys = new(() =>
    {
        string dir = Directory.CreateTempSubdirectory("blobcache-test-keys-").FullName;
        string path = Path.Combine(dir, "keyring");
        File.WriteAllText(path, "# the keyring of this test run's nodes\n" + KeyringText.NewKey() + "\n");
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        return (path, Keyring.Create(KeyringText.Parse(File.ReadAllText(path))));
    });

    /// <summary>The key file every node of this test process gets unless it is given --gossip-key-file or --insecure.</summary>
    public static string DefaultKeyFile => TestKeys.Value.Path;

    /// <summary>The ring of <see cref="DefaultKeyFile"/>, for in-process peers (a UDP chunk client) of test nodes.</summary>
    public static Keyring DefaultKeyring => TestKeys.Value.Ring;

    /// <summary>
    /// Starts a node (does not wait for it to be ready). <paramref name="extra"/> are more flags. Gossip is sealed with
    /// <see cref="DefaultKeyFile"/> unless <paramref name="extra"/> has --insecure or a --gossip-key-file of its own;
    /// gRPC is plain unless <paramref name="extra"/> has --tls-cert/--tls-key/--tls-ca.
    /// </summary>
    public static NodeProcess Start(string id, string origin, IReadOnlyList<string> seeds, params string[] extra) =>
        StartWrapped([], id, origin, seeds, extra);

    /// <summary>
    /// Starts a node under a wrapper command (<c>ip netns exec NAME</c>: the node runs in a network namespace).
    /// A <c>--host</c> in <paramref name="extra"/> is where the node binds and where the test reaches it.
    /// </summary>
    public static NodeProcess StartWrapped(IReadOnlyList<string> wrapper, string id, string origin, IReadOnlyList<string> seeds, params string[] extra) =>
        StartOn(NodePorts.Next(), wrapper, id, origin, seeds, extra);

    /// <summary>Starts a node on ports picked beforehand (see <see cref="Start(string, string, IReadOnlyList{string}, string[])"/>).</summary>
    public static NodeProcess StartOn(NodePorts ports, IReadOnlyList<string> wrapper, string id, string origin, IReadOnlyList<string> seeds, params string[] extra) =>
        StartProgram(NodeProgram.Default, ports, wrapper, id, origin, seeds, extra);

    /// <summary>Starts a node of a given build (JIT or native) on ports picked beforehand.</summary>
    public static NodeProcess StartProgram(NodeProgram program, NodePorts ports, IReadOnlyList<string> wrapper, string id, string origin, IReadOnlyList<string> seeds,
        params string[] extra)
    {
        (int http, int grpc, int gossip, int udp) = (ports.Http, ports.Grpc, ports.Gossip, ports.Udp);
        var args = new List<string>
        {
            "run", "--node-id", id, "--http-port", Str(http), "--grpc-port", Str(grpc), "--gossip-port", Str(gossip), "--udp-port", Str(udp),
            "--origin", origin, "--log-level", "Information",
        };
        bool insecure = extra.Contains("--insecure");
        if (!insecure && !extra.Any(a => a.StartsWith("--gossip-key-file", StringComparison.Ordinal))) args.AddRange(["--gossip-key-file", DefaultKeyFile]);
        // Peer mTLS only where a test gives certificates (TestCa): in-process gRPC clients of other tests stay plain.
        if (!insecure && !extra.Any(a => a.StartsWith("--tls-cert", StringComparison.Ordinal))) args.Add("--insecure");
        if (seeds.Count > 0) args.AddRange(["--seeds", string.Join(',', seeds)]);
        // Tests run several nodes on one small machine: a modest memory tier unless the caller sets one.
        if (!extra.Contains("--memory-mb")) args.AddRange(["--memory-mb", "512"]);
        args.AddRange(extra);
        int hostAt = Array.IndexOf(extra, "--host");
        string host = hostAt >= 0 && hostAt + 1 < extra.Length ? extra[hostAt + 1] : "127.0.0.1";
        return new NodeProcess(id, host, http, grpc, gossip, udp, Launch(args, new Dictionary<string, string>(), wrapper, program));
    }

    /// <summary>
    /// Runs blobcache (<paramref name="program"/>, or <see cref="NodeProgram.Default"/>) with arguments and environment;
    /// the caller reads output and waits.
    /// </summary>
    public static Process Launch(IEnumerable<string> args, IReadOnlyDictionary<string, string> environment, IReadOnlyList<string>? wrapper = null,
        NodeProgram? program = null)
    {
        List<string> command = [.. wrapper ?? [], .. (program ?? NodeProgram.Default).Command, .. args];
        var psi = new ProcessStartInfo(command[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in command.Skip(1)) psi.ArgumentList.Add(a);
        foreach ((string k, string v) in environment) psi.Environment[k] = v;
        return Process.Start(psi) ?? throw new InvalidOperationException("could not start blobcache");
    }

    private static string Str(int n) => n.ToString(CultureInfo.InvariantCulture);

    /// <summary>An Azure SDK client whose BlobEndpoint is this node: what a training job would use.</summary>
    public BlobServiceClient Client => new(Azurite.ConnectionStringFor(HttpPort));

    public async Task<StatusReport> StatusAsync() =>
        (await Http.GetFromJsonAsync($"http://{Host}:{HttpPort}/status", StatusJson.Default.StatusReport).ConfigureAwait(false))!;

    /// <summary>
    /// The sum of every series of one metric on <c>/metrics</c> (<paramref name="name"/> as exported, e.g.
    /// <c>blobcache_metadata_served_total</c>), only those whose labels contain <paramref name="labels"/> when given; 0 when absent.
    /// </summary>
    public async Task<double> MetricAsync(string name, string? labels = null)
    {
        using HttpResponseMessage r = await GetAsync("/metrics").ConfigureAwait(false);
        string text = await r.Content.ReadAsStringAsync().ConfigureAwait(false);
        double sum = 0;
        foreach (string line in text.Split('\n'))
        {
            if (!line.StartsWith(name, StringComparison.Ordinal) || line.Length == name.Length) continue;
            char next = line[name.Length];
            if (next != ' ' && next != '{') continue;
            if (labels is not null && !line.Contains(labels, StringComparison.Ordinal)) continue;
            // name{labels} value [timestamp]
            string value = line[(next == '{' ? line.LastIndexOf('}') + 1 : name.Length)..].Trim().Split(' ')[0];
            sum += double.Parse(value, CultureInfo.InvariantCulture);
        }
        return sum;
    }

    public Task<HttpResponseMessage> GetAsync(string pathAndQuery) => Http.GetAsync($"http://{Host}:{HttpPort}{pathAndQuery}");

    /// <summary>Waits until /readyz answers 200, asking every <paramref name="every"/> (50 ms unless given).</summary>
    public async Task WaitReadyAsync(TimeSpan deadline, TimeSpan? every = null)
    {
        await Wait.UntilAsync(async () =>
        {
            if (_process.HasExited) throw new InvalidOperationException($"node {Id} exited with {_process.ExitCode}:\n{Log}");
            using HttpResponseMessage r = await Http.GetAsync($"http://{Host}:{HttpPort}/readyz").ConfigureAwait(false);
            return r.IsSuccessStatusCode;
        }, deadline, $"node {Id} to be ready", every).ConfigureAwait(false);
    }

    /// <summary>Waits until every node is ready (60 s) and then sees exactly <paramref name="nodes"/> live (30 s).</summary>
    public static async Task WaitJoinedAsync(IReadOnlyList<NodeProcess> nodes)
    {
        foreach (NodeProcess n in nodes) await n.WaitReadyAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(false);
        await Wait.UntilAsync(async () =>
        {
            foreach (NodeProcess n in nodes)
            {
                if ((await n.StatusAsync().ConfigureAwait(false)).LiveMembers != nodes.Count) return false;
            }
            return true;
        }, TimeSpan.FromSeconds(30), $"{nodes.Count} nodes to see each other").ConfigureAwait(false);
    }

    /// <summary>kill -9: no graceful leave.</summary>
    public void Kill()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
    }

    /// <summary>SIGSTOP: the node stays a member but answers nothing (a hung process) until killed.</summary>
    public async Task FreezeAsync()
    {
        if (_process.HasExited) return;
        using var stop = Process.Start("kill", ["-STOP", Str(_process.Id)]);
        await stop.WaitForExitAsync().ConfigureAwait(false);
    }

    /// <summary>SIGTERM: the node leaves the mesh gracefully and exits.</summary>
    public async Task<int> StopAsync(TimeSpan deadline)
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start("kill", ["-TERM", Str(_process.Id)]);
            await kill.WaitForExitAsync().ConfigureAwait(false);
        }
        using var cts = new CancellationTokenSource(deadline);
        await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        await _process.WaitForExitAsync().ConfigureAwait(false);
        _process.Dispose();
    }
}
