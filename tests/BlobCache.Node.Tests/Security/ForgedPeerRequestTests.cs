using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using BlobCache.Node.Peers;
using BlobCache.Node.Peers.Tcp;
using BlobCache.Node.Peers.Udp;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;
using BlobCache.Testing;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobCache.Node.Tests.Security;

/// <summary>
/// A peer that lies about a blob (here: that it is one byte long) on real nodes, over each transport, in the clear
/// and under the mesh's TLS or keyring: the owners store nothing for it, and every node still serves the blob's
/// exact bytes, also after a restart (the disk tier keeps whatever was stored).
/// </summary>
[Collection(MeshCollection.Name)]
public sealed class ForgedPeerRequestTests(MeshFixture fixture) : IDisposable
{
    private const int ChunkSize = 4 * 1024 * 1024;
    private const string Blob = "big/nine.bin";
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(60) };
    private readonly string _dir = Directory.CreateTempSubdirectory("blobcache-forged-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("tcp", false)]
    [InlineData("tcp", true)]
    [InlineData("grpc", false)]
    [InlineData("grpc", true)]
    [InlineData("udp", false)]
    [InlineData("udp", true)]
    public async Task A_fill_request_that_lies_about_the_blob_length_changes_nothing_any_node_serves(string transport, bool secure)
    {
        byte[] expected = (await fixture.Azurite.Client.GetBlobContainerClient(Dataset.Container).GetBlobClient(Blob).DownloadContentAsync()).Value.Content.ToArray();
        using var ca = TestCa.Create("forged-mesh");
        string[] Args(int i)
        {
            var args = new List<string> { "--peer-transport", transport, "--cache-dir", Path.Combine(_dir, $"cache-{i}") };
            // Secure: mutual TLS for gRPC and framed TCP, and the tests' gossip keyring (NodeProcess adds it) for UDP.
            args.AddRange(secure ? ca.WriteNode(Path.Combine(_dir, $"tls-{i}"), $"node-{i}").Args : ["--insecure"]);
            return [.. args];
        }
        string prefix = $"forged-{transport}-{(secure ? "secure" : "plain")}";
        List<NodeProcess> nodes = [NodeProcess.Start($"{prefix}-0", fixture.Azurite.ConnectionString, [], Args(0))];
        try
        {
            nodes.Add(NodeProcess.Start($"{prefix}-1", fixture.Azurite.ConnectionString, [nodes[0].GossipAddress], Args(1)));
            await NodeProcess.WaitJoinedAsync(nodes);
            using HttpResponseMessage head = await Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"{nodes[0].Endpoint}/{Dataset.Container}/{Blob}"));
            head.EnsureSuccessStatusCode();
            var chunk0 = new ChunkId(Azurite.Account, Dataset.Container, Blob, head.Headers.ETag!.ToString(), 0);

            // Chunk 0 is cached nowhere yet: each node is asked to fill it for a blob of one byte.
            using X509Certificate2 forger = ca.Issue("forger");
            var answers = new List<string>();
            foreach (NodeProcess n in nodes) answers.Add($"{n.Id}: {await ForgeAsync(transport, secure ? forger : null, n, chunk0, claimedLength: 1)}");
            await ReadEverywhereAsync(nodes, expected, "after the forged requests");
            Assert.All(answers, a => Assert.Contains(": refused: ", a, StringComparison.Ordinal));

            // Restarted on the same cache directories, one after the other (the other keeps the mesh); a restarted
            // node joins under a new id, as a replaced pod would.
            for (int i = 0; i < nodes.Count; i++)
            {
                Assert.Equal(0, await nodes[i].StopAsync(TimeSpan.FromSeconds(30))); // graceful: queued disk writes finish
                await nodes[i].DisposeAsync();
                nodes[i] = NodeProcess.Start($"{prefix}-{i}-again", fixture.Azurite.ConnectionString, [nodes[1 - i].GossipAddress], Args(i));
                await NodeProcess.WaitJoinedAsync(nodes);
            }
            await ReadEverywhereAsync(nodes, expected, "after a restart");
        }
        finally
        {
            foreach (NodeProcess n in nodes) await n.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_stored_chunk_of_the_wrong_length_is_fetched_again_not_served()
    {
        var blob = fixture.Azurite.Client.GetBlobContainerClient(Dataset.Container).GetBlobClient(Blob);
        byte[] expected = (await blob.DownloadContentAsync()).Value.Content.ToArray();
        var chunk0 = new ChunkId(Azurite.Account, Dataset.Container, Blob, (await blob.GetPropertiesAsync()).Value.ETag.ToString(), 0);
        // A cache directory holding a one-byte chunk 0, as a node that took a peer's word for the length left it.
        string cache = Path.Combine(_dir, "cache");
        using (var store = new ChunkStore(new ChunkStoreOptions { MemoryBytes = 0, DiskBytes = 64L << 20, Directory = cache }))
        {
            ChunkBuffer wrong = ChunkBuffer.Rent(1);
            wrong.Writable[0] = (byte)~expected[0];
            wrong.Seal();
            store.Put(chunk0, wrong);
            wrong.Release();
            await store.FlushAsync();
        }
        await using NodeProcess node = NodeProcess.Start("stored-wrong", fixture.Azurite.ConnectionString, [], "--cache-dir", cache);
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
        await ReadEverywhereAsync([node], expected, "with a one-byte chunk 0 on disk");
        Assert.Contains("dropped, fetching it again", node.Log, StringComparison.Ordinal);
    }

    /// <summary>Sends one forged fill request over <paramref name="transport"/>: "served N bytes" or "refused: why".</summary>
    private static async Task<string> ForgeAsync(string transport, X509Certificate2? certificate, NodeProcess node, ChunkId id, long claimedLength)
    {
        switch (transport)
        {
            case "tcp":
            {
                (TcpStatus status, byte[] body) = await SecurityProbes.TcpFetchAsync(node.GrpcPort, id, claimedLength, fill: true, certificate);
                return status == TcpStatus.Ok ? $"served {body.Length} bytes" : $"refused: {status} {System.Text.Encoding.UTF8.GetString(body)}";
            }
            case "grpc":
            {
                using GrpcChannel channel = SecurityProbes.Channel(node.GrpcPort, certificate is not null, certificate);
                var (status, bytes, detail) = await SecurityProbes.FetchAsync(channel,
                    SecurityProbes.Request(id.Container, id.Blob, id.ETag, claimedLength, id.Index, fill: true));
                return status == StatusCode.OK ? $"served {bytes} bytes" : $"refused: {status} {detail}";
            }
            default:
            {
                // The node's own UDP client, told the blob is one byte: it sends that length and expects that many bytes back.
                await using var client = new UdpChunkPeerClient("forger", ChunkSize, NullLogger.Instance, certificate is null ? null : () => NodeProcess.DefaultKeyring);
                var owner = new MemberMeta(node.Id, node.GossipAddress, $"127.0.0.1:{node.GrpcPort}", $"127.0.0.1:{node.UdpPort}", "local", "local-1", 100, 1);
                try
                {
                    ChunkBuffer? chunk = await client.FetchAsync(owner, id, claimedLength, fill: true, TimeSpan.FromSeconds(10), CancellationToken.None);
                    chunk?.Release();
                    return chunk is null ? "not found" : $"served {chunk.Length} bytes";
                }
                catch (PeerTransferException e)
                {
                    return $"refused: {e.Message}";
                }
            }
        }
    }

    /// <summary>The whole blob and a few ranges (chunk 0's first byte, across a chunk boundary, a read resumed at byte 1) through every node.</summary>
    private static async Task ReadEverywhereAsync(List<NodeProcess> nodes, byte[] expected, string when)
    {
        (long From, long To)[] ranges = [(0, expected.Length - 1), (0, 0), (ChunkSize - 10, ChunkSize + 10), (1, expected.Length - 1)];
        foreach (NodeProcess n in nodes)
        {
            foreach ((long from, long to) in ranges)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, $"{n.Endpoint}/{Dataset.Container}/{Blob}");
                request.Headers.Range = new RangeHeaderValue(from, to);
                byte[] body;
                try
                {
                    using HttpResponseMessage r = await Http.SendAsync(request);
                    Assert.True(r.IsSuccessStatusCode, $"{when}: {n.Id} answered bytes {from}-{to} with {(int)r.StatusCode}");
                    body = await r.Content.ReadAsByteArrayAsync();
                }
                catch (HttpRequestException e)
                {
                    Assert.Fail($"{when}: {n.Id} broke off bytes {from}-{to}: {e.Message}");
                    throw;
                }
                Assert.True(body.AsSpan().SequenceEqual(expected.AsSpan((int)from, (int)(to - from + 1))),
                    $"{when}: {n.Id} served {body.Length} bytes for {from}-{to} that are not the blob's");
            }
        }
    }
}
