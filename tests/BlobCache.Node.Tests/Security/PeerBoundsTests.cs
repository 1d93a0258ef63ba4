using BlobCache.Node.Peers.Grpc;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;
using Grpc.Core;
using Grpc.Net.Client;

namespace BlobCache.Node.Tests.Security;

/// <summary>The owner's bounds on peer requests, on a real node: concurrency, per-address rate, message size.</summary>
[Collection(MeshCollection.Name)]
public sealed class PeerBoundsTests(MeshFixture fixture)
{
    [Fact]
    public async Task Excess_concurrent_requests_oversized_messages_and_fast_peers_are_refused_and_counted()
    {
        // 16 MiB chunks outgrow Kestrel's 8 MiB response buffer, so a client that stops reading holds its request open.
        await using NodeProcess node = NodeProcess.Start("bounds-0", fixture.Azurite.ConnectionString, [],
            "--chunk-size-mb", "16", "--max-peer-requests", "2", "--peer-rate-limit", "5");
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
        const string blob = "big/forty.bin";
        long length = fixture.Dataset.Lengths[blob];
        using HttpResponseMessage head = await node.GetAsync($"/{Azurite.Account}/{Dataset.Container}/{blob}");
        string etag = head.Headers.ETag!.ToString();
        FetchRequest chunk0 = SecurityProbes.Request(Dataset.Container, blob, etag, length, index: 0, fill: true);

        // Two slow readers (64 KiB windows, never read) take both slots; the third is turned away at once.
        using GrpcChannel slow = SecurityProbes.Channel(node.GrpcPort, tls: false, streamWindow: 65535);
        var client = new ChunkPeer.ChunkPeerClient(slow);
        using AsyncServerStreamingCall<ChunkPiece> held1 = client.Fetch(chunk0), held2 = client.Fetch(chunk0);
        Assert.True(await held1.ResponseStream.MoveNext(), "the first slow request got no piece");
        Assert.True(await held2.ResponseStream.MoveNext(), "the second slow request got no piece");
        using (GrpcChannel fast = SecurityProbes.Channel(node.GrpcPort, tls: false))
        {
            var started = System.Diagnostics.Stopwatch.StartNew();
            var third = await SecurityProbes.FetchAsync(fast, chunk0);
            Assert.Equal(StatusCode.ResourceExhausted, third.Status);
            Assert.Contains("owner busy", third.Detail, StringComparison.Ordinal);
            Assert.True(started.Elapsed < TimeSpan.FromSeconds(10), $"the refusal took {started.Elapsed}");
        }
        Assert.Equal(1, await SecurityProbes.MetricAsync(node, "blobcache_peer_requests_refused", "reason=\"busy\""));

        // The slots come back when the slow readers go away: the whole chunk is served.
        held1.Dispose();
        held2.Dispose();
        using (GrpcChannel fast = SecurityProbes.Channel(node.GrpcPort, tls: false))
        {
            (StatusCode status, long bytes, string detail) = (StatusCode.ResourceExhausted, 0L, "");
            await Wait.UntilAsync(async () =>
            {
                (status, bytes, detail) = await SecurityProbes.FetchAsync(fast, chunk0);
                return status != StatusCode.ResourceExhausted || !detail.Contains("owner busy", StringComparison.Ordinal);
            }, TimeSpan.FromSeconds(20), "a slot to be free again");
            Assert.True(status == StatusCode.OK, $"{status} {detail}");
            Assert.Equal(16L * 1024 * 1024, bytes);

            // A request bigger than the owner accepts (64 KiB) ends in ResourceExhausted before it is parsed.
            using GrpcChannel big = SecurityProbes.Channel(node.GrpcPort, tls: false, maxSend: 1024 * 1024);
            var huge = await SecurityProbes.FetchAsync(big, SecurityProbes.Request(Dataset.Container, new string('x', 200_000), etag, length));
            Assert.Equal(StatusCode.ResourceExhausted, huge.Status);

            // --peer-rate-limit 5: a burst of 30 from one address is mostly refused.
            int limited = 0;
            // A version the owner does not know: answered from its metadata alone, nothing read for it.
            FetchRequest stale = SecurityProbes.Request(Dataset.Container, blob, "\"not-the-blob's\"", length);
            for (int i = 0; i < 30; i++)
            {
                var r = await SecurityProbes.FetchAsync(fast, stale);
                if (r.Status == StatusCode.ResourceExhausted && r.Detail.Contains("rate limited", StringComparison.Ordinal)) limited++;
                else Assert.Equal(StatusCode.FailedPrecondition, r.Status);
            }
            Assert.True(limited >= 10, $"only {limited} of 30 were rate limited");
            await Wait.UntilAsync(async () => await SecurityProbes.MetricAsync(node, "blobcache_peer_requests_refused", "reason=\"rate\"") >= limited,
                TimeSpan.FromSeconds(10), $"the node to count {limited} rate-limited requests");
        }
    }
}
