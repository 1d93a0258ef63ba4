using System.Security.Cryptography;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using BlobCache.Node.Hosting;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;
using Xunit.Abstractions;

namespace BlobCache.Node.Tests.Integration;

/// <summary>
/// A stampede on real processes: every node of a mesh reads the same blob at once while each may send only one chunk
/// to peers at a time. Busy owners name the members they sent the chunk to, so the readers fan out as a tree of
/// copies: Blob still sees each chunk once and no node sends more than its limit at once.
/// </summary>
[Collection(MeshCollection.Name)]
public sealed class HandOffTests(MeshFixture fixture, ITestOutputHelper output)
{
    private const int ChunkSize = 4 * 1024 * 1024;

    [Fact]
    public async Task A_stampede_on_one_blob_fans_out_through_holders_with_one_Blob_read_per_chunk_and_bounded_sends()
    {
        const string name = "big/forty.bin";
        // A reader turned away comes back to the owner after a doubling backoff; enough rounds that a loaded box
        // still finds a slot or a holder before it would give up on the owners.
        List<NodeProcess> nodes = await fixture.StartMeshAsync("handoff", 6, "--max-peer-sends", "1");
        try
        {
            await Task.WhenAll(nodes.Select(async n =>
            {
                using var buffer = new MemoryStream();
                await n.Client.GetBlobContainerClient(Dataset.Container).GetBlobClient(name).DownloadToAsync(buffer, new BlobDownloadToOptions
                {
                    TransferOptions = new Azure.Storage.StorageTransferOptions { InitialTransferSize = ChunkSize, MaximumTransferSize = ChunkSize, MaximumConcurrency = 4 },
                });
                Assert.True(fixture.Dataset.Sha256[name] == Convert.ToHexStringLower(SHA256.HashData(buffer.ToArray())), $"{name} through {n.Id} has wrong bytes");
            }));

            StatusReport[] status = await Task.WhenAll(nodes.Select(n => n.StatusAsync()));
            long chunks = (fixture.Dataset.Lengths[name] + ChunkSize - 1) / ChunkSize;
            output.WriteLine($"{chunks} chunks; Blob GETs {status.Sum(s => s.BlobGets)}; busy answers {status.Sum(s => s.PeerBusyAnswers)}; "
                + $"hand-offs {status.Sum(s => s.PeerHandoffs)}; peer reads {status.Sum(s => s.ReadsBySource["peer"])}; peer failures {status.Sum(s => s.PeerFailures)}");
            Assert.Equal(chunks, status.Sum(s => s.BlobGets));
            foreach ((NodeProcess n, StatusReport s) in nodes.Zip(status))
                Assert.True(s.PeerSendMaxConcurrency <= 1, $"{n.Id} sent {s.PeerSendMaxConcurrency} chunks at once, over its limit of 1");
            Assert.True(status.Sum(s => s.PeerBusyAnswers) > 0, "no owner was ever busy, so this test proved nothing");
            Assert.True(status.Sum(s => s.PeerHandoffs) > 0, "no chunk came from a holder a busy owner named");
        }
        finally
        {
            foreach (NodeProcess n in nodes) await n.DisposeAsync();
        }
    }
}
