using System.Security.Cryptography;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using BlobCache.Node.Hosting;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Integration;

/// <summary>The mesh read tests again, with chunks between peers over the UDP (LiteNetLib) transport.</summary>
[Collection(MeshCollection.Name)]
public sealed class UdpMeshReadTests(MeshFixture fixture) : IAsyncLifetime
{
    private const int ChunkSize = 4 * 1024 * 1024;
    private List<NodeProcess> _nodes = [];

    public async Task InitializeAsync() => _nodes = await fixture.StartMeshAsync("udp", 3, "--peer-transport", "udp");

    public async Task DisposeAsync()
    {
        foreach (NodeProcess n in _nodes) await n.DisposeAsync();
    }

    private static readonly StorageTransferOptions Parallel4 = new()
    {
        InitialTransferSize = ChunkSize,
        MaximumTransferSize = ChunkSize,
        MaximumConcurrency = 4,
    };

    private async Task ReadAllAsync(NodeProcess node)
    {
        BlobContainerClient container = node.Client.GetBlobContainerClient(Dataset.Container);
        foreach ((string name, string sha) in fixture.Dataset.Sha256)
        {
            using var buffer = new MemoryStream();
            await container.GetBlobClient(name).DownloadToAsync(buffer, new BlobDownloadToOptions { TransferOptions = Parallel4 });
            Assert.True(sha == Convert.ToHexStringLower(SHA256.HashData(buffer.ToArray())), $"{name} through {node.Id} has wrong bytes");
        }
    }

    private async Task<long> TotalBlobGetsAsync()
    {
        long total = 0;
        foreach (NodeProcess n in _nodes) total += (await n.StatusAsync()).BlobGets;
        return total;
    }

    [Fact]
    public async Task Every_node_serves_the_dataset_byte_exact_over_udp_and_Blob_is_read_once_per_chunk()
    {
        Assert.Equal("udp", (await _nodes[0].StatusAsync()).PeerTransport);
        await ReadAllAsync(_nodes[0]);
        long chunks = fixture.Dataset.ChunkCount(ChunkSize);
        Assert.Equal(chunks, await TotalBlobGetsAsync());
        foreach (NodeProcess n in _nodes) Assert.True((await n.StatusAsync()).BlobGets > 0, $"{n.Id} filled no chunk");

        // Second pass through the other nodes: peers (over udp) and memory serve it, Blob is not asked again.
        await ReadAllAsync(_nodes[1]);
        await ReadAllAsync(_nodes[2]);
        Assert.Equal(chunks, await TotalBlobGetsAsync());
        StatusReport second = await _nodes[1].StatusAsync();
        Assert.True(second.ReadsBySource["peer"] > 0, "node 1 read nothing from peers");
        Assert.Equal(0, second.ReadsBySource["blob"] + (await _nodes[2].StatusAsync()).ReadsBySource["blob"]);
        // No frame was malformed or out of protocol (peer failures are timing, not checked: the test box may be loaded).
        long dropped = 0;
        foreach (NodeProcess n in _nodes) dropped += (await n.StatusAsync()).UdpFramesDropped;
        Assert.Equal(0, dropped);
    }

    [Fact]
    public async Task Killing_an_owner_mid_read_over_udp_still_completes_every_read_byte_exact()
    {
        const string name = "big/sixty-four.bin";
        BlobClient blob = _nodes[0].Client.GetBlobContainerClient(Dataset.Container).GetBlobClient(name);
        using (Stream stream = await blob.OpenReadAsync(new BlobOpenReadOptions(allowModifications: false) { BufferSize = ChunkSize }))
        using (var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
        {
            byte[] buffer = new byte[1 << 20];
            long read = 0;
            bool killed = false;
            int n;
            while ((n = await stream.ReadAsync(buffer)) > 0)
            {
                sha.AppendData(buffer, 0, n);
                read += n;
                if (!killed && read >= 16L * 1024 * 1024)
                {
                    _nodes[2].Kill(); // an owner of some of the chunks still to come
                    killed = true;
                }
            }
            Assert.True(killed);
            Assert.Equal(fixture.Dataset.Sha256[name], Convert.ToHexStringLower(sha.GetHashAndReset()));
        }
        // The rest of the dataset through the other survivor, while the mesh still lists the dead node.
        await ReadAllAsync(_nodes[1]);
        Assert.True((await _nodes[1].StatusAsync()).PeerFailures + (await _nodes[0].StatusAsync()).PeerFailures > 0,
            "no read went to the dead owner, so this test proved nothing");
    }
}
