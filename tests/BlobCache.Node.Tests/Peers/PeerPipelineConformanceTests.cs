using BlobCache.Node.Peers;
using BlobCache.Node.Peers.Tcp;
using BlobCache.Node.Peers.Udp;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;
using BlobCache.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobCache.Node.Tests.Peers;

/// <summary>
/// The owner's one pipeline (<see cref="PeerChunkHandler"/>) seen through each transport's real client against a real
/// node: the same requests get the same outcomes (not cached, filled, cached, warmed, blob changed, invalid) whether
/// they go over framed TCP, gRPC or UDP.
/// </summary>
[Collection(MeshCollection.Name)]
public sealed class PeerPipelineConformanceTests(MeshFixture fixture)
{
    private const int ChunkSize = 4 * 1024 * 1024;
    private const string Blob = "big/nine.bin";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static IChunkPeerClient Client(string transport) => transport switch
    {
        "tcp" => new TcpChunkPeerClient("conformance", ChunkSize),
        "grpc" => new GrpcChunkPeerClient("conformance", ChunkSize),
        _ => new UdpChunkPeerClient("conformance", ChunkSize, NullLogger.Instance, () => NodeProcess.DefaultKeyring),
    };

    [Theory]
    [InlineData("tcp")]
    [InlineData("grpc")]
    [InlineData("udp")]
    public async Task Every_transport_gets_the_same_outcome_for_the_same_request(string transport)
    {
        var blob = fixture.Azurite.Client.GetBlobContainerClient(Dataset.Container).GetBlobClient(Blob);
        byte[] expected = (await blob.DownloadContentAsync()).Value.Content.ToArray();
        var chunk1 = new ChunkId(Azurite.Account, Dataset.Container, Blob, (await blob.GetPropertiesAsync()).Value.ETag.ToString(), 1);
        await using NodeProcess node = NodeProcess.Start($"conformance-{transport}", fixture.Azurite.ConnectionString, [], "--udp-serve");
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
        var owner = new MemberMeta(node.Id, node.GossipAddress, $"127.0.0.1:{node.GrpcPort}", $"127.0.0.1:{node.UdpPort}", "local", "local-1", 100, 1);
        await using IChunkPeerClient client = Client(transport);

        Assert.Null(await client.FetchAsync(owner, chunk1, expected.Length, fill: false, Timeout, CancellationToken.None));
        foreach (bool fill in new[] { true, false })
        {
            ChunkBuffer chunk = await client.FetchAsync(owner, chunk1, expected.Length, fill, Timeout, CancellationToken.None)
                ?? throw new Xunit.Sdk.XunitException($"no chunk (fill: {fill})");
            try
            {
                Assert.True(chunk.Span.SequenceEqual(expected.AsSpan(ChunkSize, ChunkSize)), $"wrong bytes (fill: {fill})");
            }
            finally
            {
                chunk.Release();
            }
        }
        Assert.Equal("memory", await client.WarmAsync(owner, chunk1, expected.Length, Timeout, CancellationToken.None));

        var changed = await Assert.ThrowsAsync<PeerTransferException>(() => client.FetchAsync(owner, chunk1 with { ETag = "\"0xother\"" }, expected.Length, fill: true, Timeout, CancellationToken.None));
        Assert.Contains("ETag", changed.Message, StringComparison.Ordinal);
        var invalid = await Assert.ThrowsAsync<PeerTransferException>(() => client.FetchAsync(owner, chunk1 with { Account = "someoneelse" }, expected.Length, fill: true, Timeout, CancellationToken.None));
        Assert.Contains("is not this mesh's", invalid.Message, StringComparison.Ordinal);

        // Served counts whole chunks delivered: the two fetches, not the miss, the warm-up or the refusals.
        await Wait.UntilAsync(async () => (await node.StatusAsync()).PeerServed >= 2, TimeSpan.FromSeconds(10), "the owner to count the chunks it served");
        Assert.Equal(2, (await node.StatusAsync()).PeerServed);
    }
}
