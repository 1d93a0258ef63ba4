using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using Azure.Storage.Blobs;
using BlobCache.Node.Hosting;
using BlobCache.Node.Origin;
using BlobCache.Protocol.Security;

namespace BlobCache.Node.Cli;

/// <summary>
/// <c>blobcache demo</c>, the quick start: starts Azurite (or uses the built-in sample origin when Azurite is not
/// installed), a local mesh of real node processes, and reads a sample dataset through it for two epochs (the second
/// with the shards reassigned), checking every byte and printing throughput, Blob GETs and where bytes came from.
/// </summary>
public static class DemoCommand
{
    private const int Blobs = 16;
    private const long BlobBytes = 16L * 1024 * 1024;

    public static async Task<int> RunAsync(string[] args)
    {
        int nodes = 3;
        string mode = "auto";
        for (int i = 0; i < args.Length; i++)
        {
            string? value = i + 1 < args.Length ? args[i + 1] : null;
            if (args[i] == "--nodes" && int.TryParse(value, CultureInfo.InvariantCulture, out nodes) && nodes is >= 1 and <= 16) i++;
            else if (args[i] == "--origin" && value is "auto" or "azurite" or "sample") { mode = value; i++; }
            else
            {
                Console.Error.WriteLine($"blobcache demo: bad option '{args[i]}' (--nodes 1..16, --origin auto|azurite|sample)");
                return 2;
            }
        }
        string? azuriteExe = mode == "sample" ? null : FindAzurite();
        if (mode == "azurite" && azuriteExe is null)
        {
            Console.Error.WriteLine("blobcache demo: Azurite is not installed; run `npm install --prefix tools/azurite` from the repository root");
            return 2;
        }

        var cleanup = new List<Process>();
        string? azuriteDir = null;
        // The demo mesh seals gossip as a real one does (one fresh key in a private temporary file); it has no
        // certificates, so --insecure lets its gRPC peers talk plain HTTP/2.
        string keyDir = Directory.CreateTempSubdirectory("blobcache-demo-keys-").FullName;
        string keyFile = Path.Combine(keyDir, "keyring");
        File.WriteAllText(keyFile, KeyringText.NewKey() + "\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        try
        {
            string origin;
            Dictionary<string, string> expected;
            string container;
            if (azuriteExe is not null)
            {
                int port = FreePort();
                azuriteDir = Directory.CreateTempSubdirectory("blobcache-demo-azurite-").FullName;
                Console.WriteLine($"starting Azurite on 127.0.0.1:{port}");
                cleanup.Add(Start(azuriteExe, static _ => { }, LocalAzurite.Arguments(port, azuriteDir)));
                await WaitAsync(async () =>
                {
                    using var tcp = new TcpClient();
                    await tcp.ConnectAsync(IPAddress.Loopback, port).ConfigureAwait(false);
                    return true;
                }, "Azurite").ConfigureAwait(false);
                origin = LocalAzurite.ConnectionString(port);
                container = SampleOrigin.Container;
                Console.WriteLine($"uploading {Blobs} blobs of {BlobBytes >> 20} MiB to Azurite");
                expected = await UploadAsync(new BlobServiceClient(origin), container).ConfigureAwait(false);
            }
            else
            {
                Console.WriteLine("Azurite is not installed here: using the built-in sample origin (--origin sample)");
                origin = "sample";
                container = SampleOrigin.Container;
                expected = SampleHashes();
            }

            var ports = Enumerable.Range(0, nodes).Select(_ => (Http: FreePort(), Grpc: FreePort(), Gossip: FreePort(), Udp: FreePort())).ToArray();
            for (int i = 0; i < nodes; i++)
            {
                var a = new List<string> { "run", "--node-id", $"demo-{i}", "--http-port", Str(ports[i].Http), "--grpc-port", Str(ports[i].Grpc),
                    "--gossip-port", Str(ports[i].Gossip), "--udp-port", Str(ports[i].Udp), "--origin", origin, "--gossip-key-file", keyFile, "--insecure", "--memory-mb", "512", "--log-level", "Warning" };
                if (i > 0) a.AddRange(["--seeds", $"127.0.0.1:{ports[0].Gossip}"]);
                cleanup.Add(StartSelf($"demo-{i}", a));
            }
            using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };
            for (int i = 0; i < nodes; i++)
            {
                int p = ports[i].Http;
                await WaitAsync(async () => (await http.GetAsync($"http://127.0.0.1:{p}/readyz").ConfigureAwait(false)).IsSuccessStatusCode, $"node demo-{i}").ConfigureAwait(false);
            }
            await WaitAsync(async () =>
            {
                foreach (var p in ports)
                {
                    StatusReport? s = await http.GetFromJsonAsync($"http://127.0.0.1:{p.Http}/status", StatusJson.Default.StatusReport).ConfigureAwait(false);
                    if (s?.LiveMembers != nodes) return false;
                }
                return true;
            }, "the mesh to form").ConfigureAwait(false);
            Console.WriteLine($"mesh of {nodes} nodes is up (gossip encrypted and UDP peers authenticated with a keyring generated for this demo; chunk traffic between nodes (framed TCP on the gRPC port) unencrypted, as a demo has no certificates); each epoch reads {Blobs} × {BlobBytes >> 20} MiB, the shards spread over the nodes");

            bool allGood = true;
            long previousGets = 0;
            for (int epoch = 1; epoch <= 2; epoch++)
            {
                var sw = Stopwatch.StartNew();
                int bad = 0;
                await Parallel.ForEachAsync(Enumerable.Range(0, Blobs), new ParallelOptions { MaxDegreeOfParallelism = nodes * 2 }, async (b, ct) =>
                {
                    int node = (b + epoch - 1) % nodes; // epoch 2 hands every shard to another node
                    string name = SampleOrigin.BlobName(b);
                    byte[] body = await http.GetByteArrayAsync($"http://127.0.0.1:{ports[node].Http}/devstoreaccount1/{container}/{name}", ct).ConfigureAwait(false);
                    if (Convert.ToHexStringLower(SHA256.HashData(body)) != expected[name]) Interlocked.Increment(ref bad);
                }).ConfigureAwait(false);
                double seconds = sw.Elapsed.TotalSeconds;
                var reports = new List<StatusReport>();
                foreach (var p in ports) reports.Add((await http.GetFromJsonAsync($"http://127.0.0.1:{p.Http}/status", StatusJson.Default.StatusReport).ConfigureAwait(false))!);
                long gets = reports.Sum(r => r.BlobGets);
                var bytes = reports.SelectMany(r => r.BytesBySource).GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Sum(kv => kv.Value));
                var reads = reports.SelectMany(r => r.ReadsBySource).GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Sum(kv => kv.Value));
                long totalReads = reads.Values.Sum();
                Console.WriteLine($"epoch {epoch}: {Blobs * BlobBytes / 1048576.0 / seconds,7:F0} MiB/s, {seconds:F2} s, Blob GETs this epoch {gets - previousGets} " +
                    $"(chunks in the dataset: {Blobs * BlobBytes / (4 << 20)}), wrong blobs {bad}");
                Console.WriteLine("  chunk reads so far by source: " + string.Join(", ", reads.Select(kv =>
                    $"{kv.Key} {(totalReads == 0 ? 0 : (double)kv.Value / totalReads),0:P0} ({bytes[kv.Key] / 1048576.0:F0} MiB)")));
                previousGets = gets;
                allGood &= bad == 0;
            }
            Console.WriteLine(allGood ? "every byte matched the origin" : "SOME BLOBS HAD WRONG BYTES");
            return allGood ? 0 : 1;
        }
        finally
        {
            foreach (Process p in cleanup)
            {
                try
                {
                    if (!p.HasExited) p.Kill(entireProcessTree: true);
                    await p.WaitForExitAsync().ConfigureAwait(false);
                }
                catch (InvalidOperationException)
                {
                }
                p.Dispose();
            }
            foreach (string? dir in new[] { azuriteDir, keyDir })
            {
                try
                {
                    if (dir is not null) Directory.Delete(dir, recursive: true);
                }
                catch (IOException)
                {
                }
            }
        }
    }

    private static async Task<Dictionary<string, string>> UploadAsync(BlobServiceClient client, string container)
    {
        BlobContainerClient c = client.GetBlobContainerClient(container);
        await c.CreateIfNotExistsAsync().ConfigureAwait(false);
        var hashes = new Dictionary<string, string>();
        await Parallel.ForEachAsync(Enumerable.Range(0, Blobs), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (i, ct) =>
        {
            byte[] data = new byte[BlobBytes];
            SampleOrigin.Fill(i, 0, data);
            await c.GetBlobClient(SampleOrigin.BlobName(i)).UploadAsync(new BinaryData(data), overwrite: true, ct).ConfigureAwait(false);
            lock (hashes) hashes[SampleOrigin.BlobName(i)] = Convert.ToHexStringLower(SHA256.HashData(data));
        }).ConfigureAwait(false);
        return hashes;
    }

    private static Dictionary<string, string> SampleHashes()
    {
        var hashes = new Dictionary<string, string>();
        byte[] data = new byte[BlobBytes];
        for (int i = 0; i < Blobs; i++)
        {
            SampleOrigin.Fill(i, 0, data);
            hashes[SampleOrigin.BlobName(i)] = Convert.ToHexStringLower(SHA256.HashData(data));
        }
        return hashes;
    }

    /// <summary>Azurite from BLOBCACHE_AZURITE (if that file exists), or tools/azurite in this directory or one above it.</summary>
    public static string? FindAzurite()
    {
        static IEnumerable<string> Ancestors(string start)
        {
            for (string? dir = start; dir is not null; dir = Path.GetDirectoryName(dir)) yield return dir;
        }
        string? found = LocalAzurite.FindExecutable(Ancestors(Directory.GetCurrentDirectory()).Concat(Ancestors(AppContext.BaseDirectory)));
        return found is not null && File.Exists(found) ? found : null;
    }

    /// <summary>
    /// Starts a node of the demo mesh; its log lines (warnings and errors: the nodes run at --log-level Warning) reach
    /// the console prefixed with its id. The demo passes --insecure by choice, having no certificates, and says so in
    /// its own output, so each node's start-up reminder of it is left out: a warning that remains is one to act on.
    /// </summary>
    private static Process StartSelf(string id, IEnumerable<string> args)
    {
        string host = Environment.ProcessPath ?? "dotnet";
        bool viaDotnet = Path.GetFileNameWithoutExtension(host) == "dotnet";
        // A native (AOT) build is its own host; a JIT build runs its assembly, which sits beside the host's app files.
        string dll = Path.Combine(AppContext.BaseDirectory, typeof(DemoCommand).Assembly.GetName().Name + ".dll");
        return Start(host, line =>
        {
            if (!line.Contains("] --insecure: ", StringComparison.Ordinal)) Console.Error.WriteLine($"{id}: {line}");
        }, viaDotnet ? args.Prepend(dll).Prepend("exec") : args);
    }

    /// <summary>Starts a child process whose output lines go to <paramref name="line"/>; it is always drained, or a chatty child blocks on a full pipe.</summary>
    private static Process Start(string file, Action<string> line, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args) psi.ArgumentList.Add(a);
        Process p = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + file);
        p.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null) line(e.Data);
        };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null) line(e.Data);
        };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(60))
        {
            try
            {
                if (await condition().ConfigureAwait(false)) return;
            }
            catch (Exception e) when (e is HttpRequestException or SocketException or IOException or TaskCanceledException)
            {
            }
            await Task.Delay(100).ConfigureAwait(false);
        }
        throw new TimeoutException($"{what} did not come up within 60 s");
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static string Str(int n) => n.ToString(CultureInfo.InvariantCulture);
}
