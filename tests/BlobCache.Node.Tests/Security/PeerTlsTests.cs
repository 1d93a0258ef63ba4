using System.Security.Cryptography;
using Azure.Storage.Blobs;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;
using Grpc.Core;
using Grpc.Net.Client;
using System.Security.Cryptography.X509Certificates;

namespace BlobCache.Node.Tests.Security;

/// <summary>gRPC peer traffic over mutual TLS between real node processes: who gets bytes, who gets nothing, and rotation.</summary>
[Collection(MeshCollection.Name)]
public sealed class PeerTlsTests(MeshFixture fixture) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("blobcache-tls-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task ReadAsync(NodeProcess node, string blob)
    {
        BlobContainerClient container = node.Client.GetBlobContainerClient(Dataset.Container);
        using var buffer = new MemoryStream();
        await container.GetBlobClient(blob).DownloadToAsync(buffer);
        Assert.True(fixture.Dataset.Sha256[blob] == Convert.ToHexStringLower(SHA256.HashData(buffer.ToArray())), $"{blob} through {node.Id} has wrong bytes");
    }

    /// <summary>Two nodes, the second seeded with the first, both ready and seeing each other.</summary>
    private async Task<(NodeProcess, NodeProcess)> StartPairAsync(string prefix, string[] first, string[] second)
    {
        NodeProcess n0 = NodeProcess.Start($"{prefix}-0", fixture.Azurite.ConnectionString, [], first);
        NodeProcess n1 = NodeProcess.Start($"{prefix}-1", fixture.Azurite.ConnectionString, [n0.GossipAddress], second);
        try
        {
            await n0.WaitReadyAsync(TimeSpan.FromSeconds(60));
            await n1.WaitReadyAsync(TimeSpan.FromSeconds(60));
            await Wait.UntilAsync(async () => (await n0.StatusAsync()).LiveMembers == 2 && (await n1.StatusAsync()).LiveMembers == 2,
                TimeSpan.FromSeconds(30), "the two TLS nodes to see each other");
            return (n0, n1);
        }
        catch
        {
            await n0.DisposeAsync();
            await n1.DisposeAsync();
            throw;
        }
    }

    private static async Task<long> PeerReadsAsync(NodeProcess node) => (await node.StatusAsync()).ReadsBySource["peer"];

    [Fact]
    public async Task Nodes_with_mesh_certificates_read_from_each_other_strangers_get_nothing_and_rotation_keeps_serving()
    {
        using var mesh = TestCa.Create("blobcache-test-mesh");
        using var foreign = TestCa.Create("some-other-ca");
        TlsFiles a = mesh.WriteNode(Path.Combine(_dir, "a"), "node-a"), b = mesh.WriteNode(Path.Combine(_dir, "b"), "node-b");
        // Fully secure nodes: gossip under the tests' keyring (NodeProcess adds it), gRPC mutual TLS from these files.
        (NodeProcess n0, NodeProcess n1) = await StartPairAsync("tls", a.Args, b.Args);
        await using NodeProcess first = n0;
        await using NodeProcess second = n1;

        // Each reads a blob the other read first: chunks the other owns come over gRPC+mTLS, byte-exact.
        await ReadAsync(n0, "big/forty.bin");
        await ReadAsync(n1, "big/forty.bin");
        await ReadAsync(n1, "big/seventeen.bin");
        await ReadAsync(n0, "big/seventeen.bin");
        Assert.True(await PeerReadsAsync(n0) > 0, "node 0 read nothing from its peer over TLS:\n" + n0.LogTail(20));
        Assert.True(await PeerReadsAsync(n1) > 0, "node 1 read nothing from its peer over TLS:\n" + n1.LogTail(20));
        Assert.Equal(0, await SecurityProbes.MetricAsync(n0, "blobcache_peer_tls_refused"));

        // A client with a mesh certificate gets a gRPC answer (not the blob's version: FailedPrecondition); strangers get no answer at all.
        BlobCache.Node.Peers.Grpc.FetchRequest probe = SecurityProbes.Request(Dataset.Container, "big/forty.bin", "\"no-such-version\"", 1000);
        using X509Certificate2 member = mesh.Issue("a-member"), stranger = foreign.Issue("a-stranger");
        using (GrpcChannel ok = SecurityProbes.Channel(n0.GrpcPort, tls: true, member))
            Assert.Equal(StatusCode.FailedPrecondition, (await SecurityProbes.FetchAsync(ok, probe)).Status);
        var refused = new List<(string Who, StatusCode Status, string Detail)>();
        using (GrpcChannel c = SecurityProbes.Channel(n0.GrpcPort, tls: true, stranger))
        {
            var r = await SecurityProbes.FetchAsync(c, probe);
            refused.Add(("foreign CA", r.Status, r.Detail));
        }
        using (GrpcChannel c = SecurityProbes.Channel(n0.GrpcPort, tls: true, clientCertificate: null))
        {
            var r = await SecurityProbes.FetchAsync(c, probe);
            refused.Add(("no certificate", r.Status, r.Detail));
        }
        using (GrpcChannel c = SecurityProbes.Channel(n0.GrpcPort, tls: false))
        {
            var r = await SecurityProbes.FetchAsync(c, probe);
            refused.Add(("plain h2c", r.Status, r.Detail));
        }
        foreach ((string who, StatusCode status, string detail) in refused)
            Assert.True(status is not (StatusCode.OK or StatusCode.NotFound or StatusCode.InvalidArgument or StatusCode.FailedPrecondition), $"{who}: the node answered ({status} {detail})");
        await Wait.UntilAsync(async () => await SecurityProbes.MetricAsync(n0, "blobcache_peer_tls_refused") >= 3,
            TimeSpan.FromSeconds(10), "node 0 to count the three refused handshakes");

        // Rotation: node 0's files are replaced by a new certificate from the same CA; it serves it on new connections.
        using X509Certificate2 rotated = mesh.Issue("node-a-rotated");
        TlsFiles.Write(Path.Combine(_dir, "a"), rotated, mesh.Certificate);
        await Wait.UntilAsync(async () =>
        {
            using X509Certificate2 served = await SecurityProbes.ServerCertificateAsync(n0.GrpcPort, member);
            return served.Thumbprint == rotated.Thumbprint;
        }, TimeSpan.FromSeconds(30), "node 0 to present the rotated certificate");
        await Wait.UntilAsync(async () => await SecurityProbes.MetricAsync(n0, "blobcache_tls_reloads", "result=\"ok\"") >= 1,
            TimeSpan.FromSeconds(10), "node 0 to count the reload");
        long before0 = await PeerReadsAsync(n0), before1 = await PeerReadsAsync(n1);
        // Node 0's client reconnects with its new certificate; node 1 reaches node 0 (pooled or new connections).
        await ReadAsync(n1, "big/sixty-four.bin");
        await ReadAsync(n0, "big/sixty-four.bin");
        await ReadAsync(n0, "big/nine.bin");
        await ReadAsync(n1, "big/nine.bin");
        Assert.True(await PeerReadsAsync(n0) > before0, "after rotation node 0 read nothing from its peer:\n" + n0.LogTail(20));
        Assert.True(await PeerReadsAsync(n1) > before1, "after rotation node 1 read nothing from its peer:\n" + n1.LogTail(20));
        Assert.DoesNotContain("refused a peer TLS", n1.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Framed_tcp_peers_run_inside_mutual_TLS_and_strangers_get_no_bytes()
    {
        using var mesh = TestCa.Create("blobcache-test-mesh-tcp");
        using var foreign = TestCa.Create("some-other-ca-tcp");
        TlsFiles a = mesh.WriteNode(Path.Combine(_dir, "ta"), "node-ta"), b = mesh.WriteNode(Path.Combine(_dir, "tb"), "node-tb");
        TlsFiles member = mesh.WriteNode(Path.Combine(_dir, "tm"), "a-member"), stranger = foreign.WriteNode(Path.Combine(_dir, "ts"), "a-stranger");
        (NodeProcess n0, NodeProcess n1) = await StartPairAsync("tcptls", [.. a.Args, "--peer-transport", "tcp"], [.. b.Args, "--peer-transport", "tcp"]);
        await using NodeProcess first = n0;
        await using NodeProcess second = n1;

        await ReadAsync(n0, "big/forty.bin");
        await ReadAsync(n1, "big/forty.bin");
        if (await PeerReadsAsync(n1) == 0)
        {
            // Say what happened instead: peer failures (and their warnings) or no peer tried at all.
            var s0 = await n0.StatusAsync();
            var s1 = await n1.StatusAsync();
            Assert.Fail($"node 1 read nothing from its peer over framed TCP + TLS: node 1 {s1.PeerFailures} peer failures, {s1.BlobGets} Blob GETs, " +
                $"{s1.LiveMembers} live members; node 0 served {s0.PeerServed}, {s0.BlobGets} Blob GETs\n{n1.LogTail(40)}\n--- node 0\n{n0.LogTail(20)}");
        }
        Assert.Equal(0, await SecurityProbes.MetricAsync(n0, "blobcache_peer_tls_refused"));

        // A chunk node 0 holds, asked for by clients of the framed transport: only the mesh member gets it.
        string etag = (await n0.Client.GetBlobContainerClient(Dataset.Container).GetBlobClient("big/forty.bin").GetPropertiesAsync()).Value.ETag.ToString();
        long length = fixture.Dataset.Lengths["big/forty.bin"];
        var owner = new BlobCache.Protocol.Gossip.MemberMeta(n0.Id, n0.GossipAddress, $"127.0.0.1:{n0.GrpcPort}", $"127.0.0.1:{n0.UdpPort}", "local", "local-1", 100, 1);
        var chunk = new BlobCache.Store.ChunkId(Azurite.Account, Dataset.Container, "big/forty.bin", etag, 0);
        var log = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        using (var identity = new BlobCache.Node.Security.PeerTls(member.Cert, member.Key, member.Ca, TimeSpan.FromMinutes(5), log))
        await using (var ok = new BlobCache.Node.Peers.Tcp.TcpChunkPeerClient("a-member", 4 << 20, identity))
        {
            BlobCache.Store.ChunkBuffer? got = await ok.FetchAsync(owner, chunk, length, fill: true, TimeSpan.FromSeconds(10), CancellationToken.None);
            Assert.NotNull(got);
            got.Release();
        }
        int refusedBy = 0;
        using (var alien = new BlobCache.Node.Security.PeerTls(stranger.Cert, stranger.Key, stranger.Ca, TimeSpan.FromMinutes(5), log))
        await using (var foreignClient = new BlobCache.Node.Peers.Tcp.TcpChunkPeerClient("a-stranger", 4 << 20, alien))
        await using (var plainClient = new BlobCache.Node.Peers.Tcp.TcpChunkPeerClient("plain", 4 << 20))
        {
            foreach (var client in new[] { foreignClient, plainClient })
            {
                await Assert.ThrowsAsync<BlobCache.Node.Peers.PeerTransferException>(() =>
                    client.FetchAsync(owner, chunk, length, fill: true, TimeSpan.FromSeconds(5), CancellationToken.None));
                refusedBy++;
            }
        }
        Assert.Equal(2, refusedBy);
        await Wait.UntilAsync(async () => await SecurityProbes.MetricAsync(n0, "blobcache_peer_tls_refused") >= 2,
            TimeSpan.FromSeconds(10), "node 0 to count the two refused handshakes");
    }

    [Fact]
    public async Task A_node_without_TLS_material_or_with_mismatched_files_refuses_to_start_with_one_line()
    {
        using var mesh = TestCa.Create("mesh");
        using var foreign = TestCa.Create("foreign");
        TlsFiles good = mesh.WriteNode(Path.Combine(_dir, "good"), "n");
        using X509Certificate2 alien = foreign.Issue("alien");
        TlsFiles mixed = TlsFiles.Write(Path.Combine(_dir, "mixed"), alien, mesh.Certificate);

        // A gossip keyring alone is not enough: gRPC needs its TLS files too.
        (int code, string stderr) = await SecurityProbes.RunToExitAsync("run", "--origin", "sample", "--gossip-key-file", NodeProcess.DefaultKeyFile);
        Assert.Equal(2, code);
        Assert.Contains("--tls-cert, --tls-key and --tls-ca, or --insecure", stderr, StringComparison.Ordinal);

        (code, stderr) = await SecurityProbes.RunToExitAsync("run", "--origin", "sample", "--insecure", "--tls-cert", good.Cert);
        Assert.Equal(2, code);
        Assert.Contains("missing --tls-key, --tls-ca", stderr, StringComparison.Ordinal);

        (code, stderr) = await SecurityProbes.RunToExitAsync(["run", "--origin", "sample", "--insecure", .. mixed.Args]);
        Assert.Equal(2, code);
        Assert.Contains("does not chain to --tls-ca", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        (code, stderr) = await SecurityProbes.RunToExitAsync("run", "--origin", "sample", "--insecure", "--tls-cert", good.Cert, "--tls-key", good.Ca, "--tls-ca", good.Ca);
        Assert.Equal(2, code);
        Assert.Contains("--tls-key", stderr, StringComparison.Ordinal);
    }
}
