using BlobCache.Mesh.Reading;
using BlobCache.Node.Hosting;
using BlobCache.Node.Peers;
using BlobCache.Node.Peers.Grpc;
using BlobCache.Node.Peers.Tcp;
using BlobCache.Node.Peers.Udp;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Node.Tests.Security;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;
using BlobCache.Testing;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobCache.Node.Tests.Peers;

/// <summary>
/// The owner's one pipeline (<see cref="PeerChunkHandler"/>) seen through each transport's real client against a real
/// node: the same requests get the same outcomes (not cached, filled, cached, warmed, blob changed, invalid) whether
/// they go over framed TCP, gRPC or UDP, down to a busy owner's list of holders.
/// </summary>
[Collection(MeshCollection.Name)]
public sealed class PeerPipelineConformanceTests(MeshFixture fixture)
{
    private const int ChunkSize = 4 * 1024 * 1024;
    private const string Blob = "big/nine.bin";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static IChunkPeerClient Client(string transport, string self = "conformance", int chunkSize = ChunkSize) => transport switch
    {
        "tcp" => new TcpChunkPeerClient(self, chunkSize),
        "grpc" => new GrpcChunkPeerClient(self, chunkSize),
        _ => new UdpChunkPeerClient(self, chunkSize, NullLogger.Instance, () => NodeProcess.DefaultKeyring),
    };

    private static MemberMeta Meta(NodeProcess node) =>
        new(node.Id, node.GossipAddress, $"127.0.0.1:{node.GrpcPort}", $"127.0.0.1:{node.UdpPort}", "local", "local-1", 100, 1);

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
        MemberMeta owner = Meta(node);
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

    [Theory]
    [InlineData("tcp")]
    [InlineData("grpc")]
    [InlineData("udp")]
    public async Task Every_transport_carries_a_busy_owners_answer_with_the_members_it_sent_the_chunk_to(string transport)
    {
        // 16 MiB chunks outgrow Kestrel's 8 MiB response buffer, so a gRPC reader that stops reading holds its send slot.
        const int bigChunk = 16 * 1024 * 1024;
        const string blob = "big/forty.bin";
        long length = fixture.Dataset.Lengths[blob];
        string[] extra = ["--udp-serve", "--chunk-size-mb", "16", "--max-peer-sends", "1"];
        List<NodeProcess> nodes = await fixture.StartMeshAsync($"busy-{transport}", 2, extra);
        try
        {
            NodeProcess owner = nodes[0], holder = nodes[1];
            using HttpResponseMessage head = await owner.GetAsync($"/{Azurite.Account}/{Dataset.Container}/{blob}");
            string etag = head.Headers.ETag!.ToString();
            var chunk0 = new ChunkId(Azurite.Account, Dataset.Container, blob, etag, 0);

            // A delivered send makes its recipient (named by its node id, a live member of the owner's view) a holder.
            await using (IChunkPeerClient asHolder = Client(transport, holder.Id, bigChunk))
            {
                PeerReply sent = await asHolder.AskAsync(Meta(owner), chunk0, length, fill: true, Timeout, CancellationToken.None);
                Assert.Equal(PeerAnswer.Chunk, sent.Answer);
                sent.Chunk!.Release();
            }
            await Wait.UntilAsync(async () => (await owner.StatusAsync()).PeerSending == 0, Timeout, "the owner to finish its first send");

            // A reader that never reads holds the owner's one send slot.
            using GrpcChannel slow = SecurityProbes.Channel(owner.GrpcPort, tls: false, streamWindow: 65535);
            using AsyncServerStreamingCall<ChunkPiece> held = new ChunkPeer.ChunkPeerClient(slow).Fetch(
                SecurityProbes.Request(Dataset.Container, blob, etag, length, index: 0));
            Assert.True(await held.ResponseStream.MoveNext(), "the slow request got no piece");
            await Wait.UntilAsync(async () => (await owner.StatusAsync()).PeerSending == 1, Timeout, "the slow request to hold the send slot");

            await using IChunkPeerClient client = Client(transport, chunkSize: bigChunk);
            PeerReply busy = await client.AskAsync(Meta(owner), chunk0, length, fill: true, Timeout, CancellationToken.None);
            Assert.Equal(PeerAnswer.Busy, busy.Answer);
            Assert.Equal(1, busy.Holders.Count);
            Assert.Equal(holder.Id, busy.Holders[0]);
            StatusReport status = await owner.StatusAsync();
            Assert.Equal(1, status.PeerSendMaxConcurrency);
            Assert.True(status.PeerBusyAnswers >= 1, "the busy answer was not counted");

            // The slot comes back when the slow reader goes away.
            held.Dispose();
            await Wait.UntilAsync(async () => (await owner.StatusAsync()).PeerSending == 0, Timeout, "the slow request's slot to come back");
            PeerReply served = await client.AskAsync(Meta(owner), chunk0, length, fill: false, Timeout, CancellationToken.None);
            Assert.Equal(PeerAnswer.Chunk, served.Answer);
            served.Chunk!.Release();
        }
        finally
        {
            foreach (NodeProcess n in nodes) await n.DisposeAsync();
        }
    }
}
