using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using BlobCache.Node.Hosting;
using BlobCache.Node.Peers;
using BlobCache.Node.Peers.Tcp;
using BlobCache.Node.Peers.Udp;
using BlobCache.Node.Security;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;
using BlobCache.Testing;
using static BlobCache.LoadTests.BenchOutput;

namespace BlobCache.LoadTests;

/// <summary>Sizes of one benchmark run: <c>--smoke</c> (seconds, for CI) or the full run.</summary>
public sealed record BenchSize(bool Smoke, long HitBlobBytes, TimeSpan WarmUp, TimeSpan Duration, int[] Concurrency,
    int EpochBlobs, long EpochBlobBytes, long StampedeBytes, int StampedeNodes)
{
    /// <summary>Local-hit range sizes; the 4 MiB row is the headline in results.json when it is measured.</summary>
    public int[] Ranges { get; init; } = [4 << 20, 64 << 10];

    /// <summary>Whether the local-hit rows also measure Azurite (its rows take a third of the time and are not a baseline to beat).</summary>
    public bool LocalHitAzurite { get; init; } = true;

    /// <summary>
    /// The memory tier of the epoch and stampede runs' second mesh (over a disk tier): far less than a node's share of
    /// the data, so chunks are evicted while they are filled and written to disk, and single-flight must still hold.
    /// </summary>
    public int SmallMemoryMb { get; init; } = 128;

    public static BenchSize Full { get; } = new(false, 256L << 20, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(10), [1, 8, 64], 64, 32L << 20, 512L << 20, 5);
    public static BenchSize Tiny { get; } = new(true, 16L << 20, TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(1.5), [1, 8], 6, 8L << 20, 32L << 20, 3) { SmallMemoryMb = 8 };
}

/// <summary>
/// `bench`: every end-to-end figure next to its baseline, measured in this one run on this machine, printed as a
/// table and written to results.json.
/// </summary>
public static class Bench
{
    private const string Container = "bench";

    public static async Task<int> RunAsync(BenchSize size, string outDir, IReadOnlySet<string> only)
    {
        bool Run(string part) => only.Count == 0 || only.Contains(part);
        var results = new JsonObject
        {
            ["machine"] = new JsonObject { ["cores"] = Environment.ProcessorCount, ["os"] = Environment.OSVersion.ToString(), ["network"] = "loopback" },
            ["smoke"] = size.Smoke,
            ["started_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
        };
        // First, while nothing else runs: idle CPU and detection times are what this group measures.
        if (Run("membership")) await MembershipBench.RunAsync(size.Smoke ? MembershipSize.Tiny : MembershipSize.Full, results);
        if (Run("footprint")) await FootprintBench.RunAsync(size.Smoke ? FootprintSize.Tiny : FootprintSize.Full, results);
        if (only.Count > 0 && only.All(p => p is "membership" or "footprint")) return await WriteResultsAsync(results, outDir);
        string dataDir = Directory.CreateTempSubdirectory("blobcache-bench-").FullName;
        await using var azurite = new Azurite();
        Step("starting Azurite");
        await azurite.StartAsync();
        BlobContainerClient container = azurite.Client.GetBlobContainerClient(Container);
        // Public read access, so the same anonymous ranged GETs measure Azurite, nginx and BlobCache alike.
        await container.CreateIfNotExistsAsync(PublicAccessType.Blob);
        try
        {
            if (Run("cold_read")) await ColdReadBench.RunAsync(size, results, azurite, container);
            if (Run("small_objects")) await SmallObjectBench.RunAsync(size, results, azurite, container);
            if (only.Count > 0 && only.All(p => p is "membership" or "footprint" or "cold_read" or "small_objects")) return await WriteResultsAsync(results, outDir);
            Step($"uploading a {size.HitBlobBytes >> 20} MiB blob to Azurite and the same bytes to nginx's directory");
            byte[] hit = Random(size.HitBlobBytes, 1);
            await container.GetBlobClient("hit.bin").UploadAsync(new BinaryData(hit), overwrite: true);
            Directory.CreateDirectory(Path.Combine(dataDir, Container));
            await File.WriteAllBytesAsync(Path.Combine(dataDir, Container, "hit.bin"), hit);
            // nginx's workers run as an unprivileged user: let them read the file (temp directories are 0700).
            const UnixFileMode readable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(dataDir, readable);
                File.SetUnixFileMode(Path.Combine(dataDir, Container), readable);
                File.SetUnixFileMode(Path.Combine(dataDir, Container, "hit.bin"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            }
            string etag = (await container.GetBlobClient("hit.bin").GetPropertiesAsync()).Value.ETag.ToString();
            await using Nginx nginx = await Nginx.StartAsync(dataDir);
            // The same node code with Kestrel serving its endpoint (what the node ran before the event-loop server):
            // a mesh of its own, so the local-hit rows' node and placement are unchanged.
            await using NodeProcess? onKestrel = Run("local_hit")
                ? NodeProcess.Start("bench-kestrel", azurite.ConnectionString, [], "--memory-mb", "2048", "--log-level", "Warning", "--http-server", "kestrel")
                : null;

            // Node 0 also serves UDP for the peer-fetch row (a node serves it only when asked), and as many sends at
            // once as the row's streams: the row measures a transport, not the hand-off that bounds an owner's sends.
            List<NodeProcess> mesh = await StartMeshAsync(azurite, "bench", 3, i => i == 0 ? ["--memory-mb", "2048", "--udp-serve", "--max-peer-sends", "64"] : ["--memory-mb", "2048"]);
            try
            {
                NodeProcess node = mesh[0];
                using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
                Step("loading the blob into node 0 (a read through it)");
                byte[] viaNode = await http.GetByteArrayAsync($"{node.Endpoint}/{Container}/hit.bin");
                if (!viaNode.AsSpan().SequenceEqual(hit)) throw new InvalidOperationException("node 0 returned wrong bytes");
                if (onKestrel is not null)
                {
                    await onKestrel.WaitReadyAsync(TimeSpan.FromSeconds(60));
                    byte[] viaKestrel = await http.GetByteArrayAsync($"{onKestrel.Endpoint}/{Container}/hit.bin");
                    if (!viaKestrel.AsSpan().SequenceEqual(hit)) throw new InvalidOperationException("the node on Kestrel returned wrong bytes");
                    await LocalHitAsync(size, results, node, nginx, onKestrel, azurite, hit.Length);
                }
                if (Run("peer_fetch")) await PeerFetchAsync(size, results, node, etag, hit, azurite);
            }
            finally
            {
                foreach (NodeProcess n in mesh) await n.DisposeAsync();
            }
            if (Run("epoch"))
            {
                await UploadEpochAsync(size, container);
                foreach ((string key, MeshPki? pki) in Security("epoch"))
                {
                    using (pki)
                    {
                        List<NodeProcess> epochMesh = await StartMeshAsync(azurite, key.Replace('_', '-'), 3, _ => LargeMemory(pki), pki);
                        try
                        {
                            await EpochAsync(size, results, epochMesh, key);
                        }
                        finally
                        {
                            foreach (NodeProcess n in epochMesh) await n.DisposeAsync();
                        }
                    }
                }
            }
            if (Run("mount")) await MountBench.RunAsync(size, results, azurite, Container, Path.Combine(dataDir, Container, "hit.bin"), hit.Length);
            if (Run("epoch"))
            {
                await using SmallMemoryMesh small = await SmallMemoryMesh.StartAsync(azurite, "epoch-small", 3, size.SmallMemoryMb);
                await EpochAsync(size, results, small.Nodes, "epoch_small_memory");
            }
            if (Run("stampede"))
            {
                Step($"stampede: uploading one {size.StampedeBytes >> 20} MiB blob");
                await container.GetBlobClient("stampede.bin").UploadAsync(new BinaryData(Random(size.StampedeBytes, 7)), overwrite: true);
                foreach ((string key, MeshPki? pki) in Security("stampede"))
                {
                    using (pki)
                    {
                        List<NodeProcess> stampedeMesh = await StartMeshAsync(azurite, key.Replace('_', '-'), size.StampedeNodes, _ => LargeMemory(pki), pki);
                        try
                        {
                            await StampedeAsync(size, results, stampedeMesh, key);
                        }
                        finally
                        {
                            foreach (NodeProcess n in stampedeMesh) await n.DisposeAsync();
                        }
                    }
                }
                await using SmallMemoryMesh small = await SmallMemoryMesh.StartAsync(azurite, "stampede-small", size.StampedeNodes, size.SmallMemoryMb);
                await StampedeAsync(size, results, small.Nodes, "stampede_small_memory");
            }
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
        return await WriteResultsAsync(results, outDir);
    }

    private static async Task<int> WriteResultsAsync(JsonObject results, string outDir)
    {
        results["finished_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture);
        Directory.CreateDirectory(outDir);
        string path = Path.Combine(outDir, "results.json");
        await File.WriteAllTextAsync(path, results.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"wrote {path}");
        return 0;
    }


    private static byte[] Random(long length, int seed)
    {
        byte[] data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>
    /// The two security settings a mesh row runs under, secure first: <paramref name="key"/> with mutual TLS and the
    /// gossip keyring (a user's mesh), then <paramref name="key"/>_insecure with --insecure beside it.
    /// </summary>
    private static IEnumerable<(string Key, MeshPki? Pki)> Security(string key)
    {
        yield return (key, new MeshPki(key));
        yield return ($"{key}_insecure", null);
    }

    /// <summary>A 2 GiB memory tier, and --insecure for a mesh without <paramref name="pki"/>.</summary>
    private static string[] LargeMemory(MeshPki? pki) => pki is null ? ["--memory-mb", "2048", "--insecure"] : ["--memory-mb", "2048"];

    /// <param name="flags">Flags of node i (default: a 2 GiB memory tier and no disk tier).</param>
    /// <param name="pki">Mutual TLS between the nodes from this CA, with the gossip keyring; null: the tests' default
    /// (keyring, plain peer transports, so this process's plain clients can fetch). See <see cref="Security"/>.</param>
    internal static async Task<List<NodeProcess>> StartMeshAsync(Azurite azurite, string prefix, int count, Func<int, string[]>? flags = null, MeshPki? pki = null)
    {
        Step($"starting {count} blobcache nodes");
        var nodes = new List<NodeProcess>();
        for (int i = 0; i < count; i++)
        {
            nodes.Add(NodeProcess.Start($"{prefix}-{i}", azurite.ConnectionString, i == 0 ? [] : [nodes[0].GossipAddress],
                [.. flags?.Invoke(i) ?? ["--memory-mb", "2048"], .. pki?.NodeArgs(prefix, i) ?? [], "--log-level", "Warning"]));
        }
        await NodeProcess.WaitJoinedAsync(nodes);
        return nodes;
    }

    private static async Task LocalHitAsync(BenchSize size, JsonObject results, NodeProcess node, Nginx nginx, NodeProcess onKestrel, Azurite azurite, long length)
    {
        var rows = new JsonArray();
        var table = new List<LoadResult>();
        foreach (int range in size.Ranges)
        {
            foreach (int c in size.Concurrency)
            {
                var targets = new (string Name, string Url, int Pid)[]
                {
                    ("blobcache", $"{node.Endpoint}/{Container}/hit.bin", node.Pid),
                    ("nginx", $"http://127.0.0.1:{nginx.Port}/{Container}/hit.bin", nginx.Pid),
                    ("kestrel", $"{onKestrel.Endpoint}/{Container}/hit.bin", onKestrel.Pid),
                    ("azurite", $"http://127.0.0.1:{azurite.Port}/{Azurite.Account}/{Container}/hit.bin", 0),
                }.Where(t => size.LocalHitAzurite || t.Name != "azurite").ToArray();
                foreach ((string name, string url, int pid) in targets)
                {
                    Step($"local hit: {name}, {range >> 10} KiB ranges, {c} readers");
                    // The server's CPU per request: less swayed by load from elsewhere than its throughput. Read
                    // over the measured period only: the warm-up also pays for each server's JIT compilation, and
                    // the node has far more code to compile than nginx.
                    Task<double> cpuAtStart = pid == 0 ? Task.FromResult(0.0)
                        : Task.Delay(size.WarmUp).ContinueWith(_ => ProcessCpu.Seconds(pid), TaskScheduler.Default);
                    LoadResult r = await ReadLoad.RunAsync(name, url, length, range, c, size.WarmUp, size.Duration, seed: c);
                    if (pid != 0) r = r with { ServerCpuUs = (ProcessCpu.Seconds(pid) - await cpuAtStart) * 1e6 / Math.Max(1, r.Requests) };
                    table.Add(r);
                    rows.Add(JsonSerializer.SerializeToNode(r));
                }
            }
        }
        Console.WriteLine();
        Console.WriteLine("local hit (closed loop, random ranges of one blob; BlobCache serves it from memory)");
        Console.WriteLine($"{"range",7} {"readers",7} {"target",-10} {"MiB/s",9} {"req/s",9} {"p50 ms",8} {"p99 ms",8} {"p99.9 ms",9} {"vs nginx",9} {"errors",6} {"server CPU µs/req",17}");
        foreach (LoadResult r in table)
        {
            LoadResult baseline = table.First(b => b.Target == "nginx" && b.RangeBytes == r.RangeBytes && b.Concurrency == r.Concurrency);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.RangeBytes >> 10,5}Ki {r.Concurrency,7} {r.Target,-10} {r.MiBPerSecond,9:F0} {r.RequestsPerSecond,9:F0} {r.P50Ms,8:F2} {r.P99Ms,8:F2} {r.P999Ms,9:F2} {r.MiBPerSecond / Math.Max(0.001, baseline.MiBPerSecond),8:P0} {r.Errors,6} {r.ServerCpuUs,17:F0}"));
        }
        Console.WriteLine("kestrel: the same node code with Kestrel serving its endpoint (--http-server kestrel), the blob in its memory");
        foreach (LoadResult r in table.Where(r => r.Target == "blobcache"))
        {
            LoadResult k = table.First(b => b.Target == "kestrel" && b.RangeBytes == r.RangeBytes && b.Concurrency == r.Concurrency);
            LoadResult n = table.First(b => b.Target == "nginx" && b.RangeBytes == r.RangeBytes && b.Concurrency == r.Concurrency);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.RangeBytes >> 10,5}Ki {r.Concurrency,7} readers: blobcache/kestrel {r.MiBPerSecond / Math.Max(0.001, k.MiBPerSecond),5:F2} (what the event-loop server gains), kestrel/nginx {k.MiBPerSecond / Math.Max(0.001, n.MiBPerSecond),5:F2}"));
        }
        Console.WriteLine();
        // The headline row: 4 MiB ranges at the highest concurrency measured.
        int top = size.Concurrency.Max();
        int headline = size.Ranges.Max();
        LoadResult Pick(string t) => table.First(r => r.Target == t && r.RangeBytes == headline && r.Concurrency == top);
        results["local_hit"] = new JsonObject
        {
            ["range_bytes"] = headline,
            ["readers"] = top,
            ["mib_s"] = Round(Pick("blobcache").MiBPerSecond),
            ["nginx_mib_s"] = Round(Pick("nginx").MiBPerSecond),
            ["azurite_mib_s"] = size.LocalHitAzurite ? Round(Pick("azurite").MiBPerSecond) : null,
            ["p99_ms"] = Round(Pick("blobcache").P99Ms),
            ["nginx_p99_ms"] = Round(Pick("nginx").P99Ms),
            ["azurite_p99_ms"] = size.LocalHitAzurite ? Round(Pick("azurite").P99Ms) : null,
            ["ratio_to_nginx"] = Round(Pick("blobcache").MiBPerSecond / Math.Max(0.001, Pick("nginx").MiBPerSecond)),
            ["kestrel_mib_s"] = Round(Pick("kestrel").MiBPerSecond),
            ["kestrel_p99_ms"] = Round(Pick("kestrel").P99Ms),
            ["ratio_to_kestrel"] = Round(Pick("blobcache").MiBPerSecond / Math.Max(0.001, Pick("kestrel").MiBPerSecond)),
            ["runs"] = rows,
        };
    }

    private static async Task PeerFetchAsync(BenchSize size, JsonObject results, NodeProcess node, string etag, byte[] hit, Azurite azurite)
    {
        long length = hit.Length;
        var peer = new MemberMeta(node.Id, node.GossipAddress, $"127.0.0.1:{node.GrpcPort}", $"127.0.0.1:{node.UdpPort}", "local", "local-1", 100, 1);
        var chunks = Enumerable.Range(0, (int)(length / PeerFetch.ChunkBytes))
            .Select(i => new ChunkId(Azurite.Account, Container, "hit.bin", etag, i)).ToList();
        var figures = new JsonObject();
        await using var grpc = new GrpcChunkPeerClient("bench-client", PeerFetch.ChunkBytes);
        await using var udp = new UdpChunkPeerClient("bench-client", PeerFetch.ChunkBytes, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance,
            () => NodeProcess.DefaultKeyring);
        // gRPC over mutual TLS: a second node with certificates from a throwaway CA, holding the same blob.
        string pki = Directory.CreateTempSubdirectory("blobcache-bench-tls-").FullName;
        using var ca = TestCa.Create("bench-mesh");
        TlsFiles nodeTls = ca.WriteNode(Path.Combine(pki, "node"), "bench-tls"), clientTls = ca.WriteNode(Path.Combine(pki, "client"), "bench-client");
        await using NodeProcess tlsNode = NodeProcess.Start("bench-tls", azurite.ConnectionString, [], [.. nodeTls.Args, "--max-peer-sends", "64"]);
        await tlsNode.WaitReadyAsync(TimeSpan.FromSeconds(60));
        using (var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5) })
        {
            if (!(await http.GetByteArrayAsync($"{tlsNode.Endpoint}/{Container}/hit.bin")).AsSpan().SequenceEqual(hit)) throw new InvalidOperationException("the TLS node returned wrong bytes");
        }
        var tlsPeer = peer with { Id = tlsNode.Id, GrpcAddress = $"127.0.0.1:{tlsNode.GrpcPort}" };
        using var clientIdentity = new PeerTls(clientTls.Cert, clientTls.Key, clientTls.Ca, TimeSpan.FromMinutes(10), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        await using var grpcTls = new GrpcChunkPeerClient("bench-client", PeerFetch.ChunkBytes, clientIdentity);
        await using var framed = new TcpChunkPeerClient("bench-client", PeerFetch.ChunkBytes);
        await using var framedTls = new TcpChunkPeerClient("bench-client", PeerFetch.ChunkBytes, clientIdentity);
        Console.WriteLine("peer fetch (4 MiB chunks from a node's memory to this process, loopback; framed = our framed-TCP transport)");
        Console.WriteLine($"{"streams",7} {"raw TCP",9} {"framed",9} {"framed+TLS",10} {"gRPC",9} {"gRPC+TLS",9} {"UDP",9} {"framed/TCP",10} {"gRPC/TCP",9} {"TLS/plain",9} {"UDP/TCP",9}");
        // A warm-up pass (connections, JIT) before each measured one.
        async Task<double> MeasureAsync(string name, IChunkPeerClient client, MemberMeta at, int streams)
        {
            Step($"peer fetch: {name}, {streams} streams");
            await PeerFetch.TransportAsync(client, at, chunks, length, streams, size.WarmUp);
            return await PeerFetch.TransportAsync(client, at, chunks, length, streams, size.Duration);
        }
        foreach (int streams in new[] { 1, 16 })
        {
            Step($"peer fetch: raw TCP, {streams} streams");
            double tcp = await PeerFetch.RawTcpAsync(streams, size.Duration);
            double f = await MeasureAsync("framed TCP", framed, peer, streams);
            double ft = await MeasureAsync("framed TCP over mutual TLS", framedTls, tlsPeer, streams);
            double g = await MeasureAsync("gRPC", grpc, peer, streams);
            double gt = await MeasureAsync("gRPC over mutual TLS", grpcTls, tlsPeer, streams);
            double u = await MeasureAsync("UDP (LiteNetLib)", udp, peer, streams);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{streams,7} {tcp,9:F0} {f,9:F0} {ft,10:F0} {g,9:F0} {gt,9:F0} {u,9:F0} {f / tcp,10:P0} {g / tcp,9:P0} {ft / f,9:P0} {u / tcp,9:P0}"));
            figures[$"streams_{streams}"] = new JsonObject
            {
                ["raw_tcp_mib_s"] = Round(tcp), ["tcp_mib_s"] = Round(f), ["tcp_tls_mib_s"] = Round(ft), ["grpc_mib_s"] = Round(g), ["grpc_tls_mib_s"] = Round(gt), ["udp_mib_s"] = Round(u),
            };
        }
        Console.WriteLine();
        Directory.Delete(pki, recursive: true);
        JsonObject best = figures["streams_16"]!.AsObject();
        results["peer_fetch"] = new JsonObject
        {
            ["streams"] = 16,
            ["grpc_mib_s"] = best["grpc_mib_s"]!.DeepClone(),
            ["grpc_tls_mib_s"] = best["grpc_tls_mib_s"]!.DeepClone(),
            ["udp_mib_s"] = best["udp_mib_s"]!.DeepClone(),
            ["tcp_mib_s"] = best["tcp_mib_s"]!.DeepClone(),
            ["tcp_tls_mib_s"] = best["tcp_tls_mib_s"]!.DeepClone(),
            ["raw_tcp_mib_s"] = best["raw_tcp_mib_s"]!.DeepClone(),
            ["by_streams"] = figures,
        };
    }

    private static async Task UploadEpochAsync(BenchSize size, BlobContainerClient container)
    {
        Step($"uploading an epoch dataset: {size.EpochBlobs} blobs × {size.EpochBlobBytes >> 20} MiB");
        await Parallel.ForEachAsync(Enumerable.Range(0, size.EpochBlobs), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (i, ct) =>
            await container.GetBlobClient($"epoch/shard-{i:D4}.bin").UploadAsync(new BinaryData(Random(size.EpochBlobBytes, 100 + i)), overwrite: true, ct));
    }

    /// <summary>Two epochs over the dataset <see cref="UploadEpochAsync"/> wrote, through <paramref name="mesh"/> (cold), into results[<paramref name="key"/>].</summary>
    private static async Task EpochAsync(BenchSize size, JsonObject results, List<NodeProcess> mesh, string key)
    {
        long chunks = size.EpochBlobs * ((size.EpochBlobBytes + PeerFetch.ChunkBytes - 1) / PeerFetch.ChunkBytes);
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
        var epochs = new JsonArray();
        var before = await TotalsAsync(mesh);
        Console.WriteLine($"{key} ({mesh.Count} nodes, {size.EpochBlobs * size.EpochBlobBytes >> 20} MiB, {chunks} chunks; epoch 2 reshuffles shards to other nodes)");
        for (int epoch = 1; epoch <= 2; epoch++)
        {
            Step($"{key}: epoch {epoch}");
            var sw = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, size.EpochBlobs), new ParallelOptions { MaxDegreeOfParallelism = mesh.Count * 4 }, async (i, ct) =>
            {
                NodeProcess n = mesh[(i + epoch - 1) % mesh.Count];
                using HttpResponseMessage r = await http.GetAsync($"{n.Endpoint}/{Container}/epoch/shard-{i:D4}.bin", HttpCompletionOption.ResponseHeadersRead, ct);
                r.EnsureSuccessStatusCode();
                await using Stream body = await r.Content.ReadAsStreamAsync(ct);
                await body.CopyToAsync(Stream.Null, ct);
            });
            double seconds = sw.Elapsed.TotalSeconds;
            var after = await TotalsAsync(mesh);
            long gets = after.Gets - before.Gets;
            var bytes = after.Bytes.ToDictionary(kv => kv.Key, kv => kv.Value - before.Bytes.GetValueOrDefault(kv.Key));
            string sources = string.Join(", ", bytes.Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value / 1048576.0:F0}")));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  epoch {epoch}: {seconds:F2} s, {size.EpochBlobs * size.EpochBlobBytes / 1048576.0 / seconds:F0} MiB/s, Blob GETs per chunk {gets / (double)chunks:F3}, MiB by source: {sources}"));
            var bySource = new JsonObject();
            foreach ((string k, long v) in bytes) bySource[k] = v;
            epochs.Add(new JsonObject { ["epoch"] = epoch, ["seconds"] = Round(seconds), ["blob_gets"] = gets, ["blob_gets_per_chunk"] = Round(gets / (double)chunks), ["bytes_by_source"] = bySource });
            before = after;
        }
        Console.WriteLine();
        long totalGets = epochs.Sum(e => e!["blob_gets"]!.GetValue<long>());
        results[key] = new JsonObject
        {
            ["nodes"] = mesh.Count,
            ["bytes"] = size.EpochBlobs * size.EpochBlobBytes,
            ["chunks"] = chunks,
            ["blob_gets_per_chunk"] = Round(totalGets / (double)chunks),
            ["epochs"] = epochs,
        };
    }

    private static async Task<(long Gets, Dictionary<string, long> Bytes)> TotalsAsync(List<NodeProcess> mesh)
    {
        long gets = 0;
        var bytes = new Dictionary<string, long>();
        foreach (NodeProcess n in mesh)
        {
            StatusReport s = await n.StatusAsync();
            gets += s.BlobGets;
            foreach ((string k, long v) in s.BytesBySource) bytes[k] = bytes.GetValueOrDefault(k) + v;
        }
        return (gets, bytes);
    }

    /// <summary>Every node's readers read stampede.bin at once through <paramref name="mesh"/> (cold), into results[<paramref name="key"/>].</summary>
    private static async Task StampedeAsync(BenchSize size, JsonObject results, List<NodeProcess> mesh, string key)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
        Step($"{key}: {mesh.Count} nodes × 4 readers read it at once");
        var sw = Stopwatch.StartNew();
        double[] done = new double[mesh.Count * 4];
        await Task.WhenAll(Enumerable.Range(0, mesh.Count * 4).Select(async i =>
        {
            using HttpResponseMessage r = await http.GetAsync($"{mesh[i % mesh.Count].Endpoint}/{Container}/stampede.bin", HttpCompletionOption.ResponseHeadersRead);
            r.EnsureSuccessStatusCode();
            await using Stream body = await r.Content.ReadAsStreamAsync();
            await body.CopyToAsync(Stream.Null);
            done[i] = sw.Elapsed.TotalSeconds;
        }));
        long gets = 0;
        int maxConcurrency = 0;
        foreach (NodeProcess n in mesh)
        {
            StatusReport s = await n.StatusAsync();
            gets += s.BlobGets;
            maxConcurrency = Math.Max(maxConcurrency, s.PeerServeMaxConcurrency);
        }
        long chunks = (size.StampedeBytes + PeerFetch.ChunkBytes - 1) / PeerFetch.ChunkBytes;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{key}: {mesh.Count * 4} readers of one {size.StampedeBytes >> 20} MiB blob on {mesh.Count} nodes: all done in {done.Max():F2} s (first {done.Min():F2} s), Blob GETs {gets} for {chunks} chunks, most concurrent peer requests at one owner {maxConcurrency}"));
        Console.WriteLine();
        results[key] = new JsonObject
        {
            ["nodes"] = mesh.Count,
            ["readers"] = mesh.Count * 4,
            ["bytes"] = size.StampedeBytes,
            ["completion_seconds"] = Round(done.Max()),
            ["blob_gets"] = gets,
            ["chunks"] = chunks,
            ["max_owner_concurrency"] = maxConcurrency,
        };
    }

    private static double Round(double v) => Math.Round(v, 3);
}
