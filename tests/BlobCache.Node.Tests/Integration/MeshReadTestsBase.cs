using System.Security.Cryptography;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using BlobCache.Node.Hosting;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Integration;

/// <summary>
/// Three real nodes on loopback in front of Azurite, read with the Azure SDK for .NET; the tests every peer
/// transport must pass. Subclasses pick the transport.
/// </summary>
public abstract class MeshReadTestsBase(MeshFixture fixture, string transport) : IAsyncLifetime
{
    protected const int ChunkSize = 4 * 1024 * 1024;
    protected MeshFixture Fixture { get; } = fixture;
    protected List<NodeProcess> Nodes { get; private set; } = [];

    public async Task InitializeAsync() => Nodes = await Fixture.StartMeshAsync(transport, 3, "--peer-transport", transport);

    public async Task DisposeAsync()
    {
        foreach (NodeProcess n in Nodes) await n.DisposeAsync();
    }

    /// <summary>Reads every blob of the dataset through a node with the SDK (ranged, parallel) and checks its hash.</summary>
    protected Task ReadAllAsync(NodeProcess node) => Fixture.ReadDatasetAsync(node);

    protected async Task<long> TotalBlobGetsAsync()
    {
        long total = 0;
        foreach (NodeProcess n in Nodes) total += (await n.StatusAsync()).BlobGets;
        return total;
    }

    protected string Warnings() => string.Join('\n', Nodes.SelectMany(n => n.Log.Split('\n').Where(l => l.Contains("warn", StringComparison.Ordinal)).Select(l => $"{n.Id}: {l}")));

    [Fact]
    public async Task A_node_that_served_peers_stops_gracefully_at_once()
    {
        // Reading everything through node 0 leaves its pooled peer connections open to nodes 1 and 2.
        await ReadAllAsync(Nodes[0]);
        var stopping = System.Diagnostics.Stopwatch.StartNew();
        // Well inside the host's 30 s shutdown timeout (and Kubernetes' default grace period): an idle peer
        // connection must not hold the stop until the timeout runs out.
        Assert.Equal(0, await Nodes[1].StopAsync(TimeSpan.FromSeconds(15)));
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(15), $"stop took {stopping.Elapsed}");
        await Wait.UntilAsync(async () => (await Nodes[0].StatusAsync()).Members.Any(m => m.Id == Nodes[1].Id && m.State == "left"),
            TimeSpan.FromSeconds(20), "node 0 to see node 1 leave");
    }

    [Fact]
    public async Task Every_node_serves_the_dataset_byte_exact_and_Blob_is_read_once_per_chunk()
    {
        Assert.Equal(transport, (await Nodes[0].StatusAsync()).PeerTransport);
        await ReadAllAsync(Nodes[0]);
        long chunks = Fixture.Dataset.ChunkCount(ChunkSize);
        Assert.Equal(chunks, await TotalBlobGetsAsync());
        // Every node owns part of the dataset: the chunks were spread, not all filled by the reader.
        foreach (NodeProcess n in Nodes) Assert.True((await n.StatusAsync()).BlobGets > 0, $"{n.Id} filled no chunk");

        // Second pass through the other nodes: peers and memory serve it, Blob is not asked again.
        await ReadAllAsync(Nodes[1]);
        await ReadAllAsync(Nodes[2]);
        Assert.Equal(chunks, await TotalBlobGetsAsync());
        StatusReport second = await Nodes[1].StatusAsync();
        Assert.True(second.ReadsBySource["peer"] > 0, "node 1 read nothing from peers");
        Assert.Equal(0, second.ReadsBySource["blob"] + (await Nodes[2].StatusAsync()).ReadsBySource["blob"]);
        // Every transport feeds the owners' served-at-once figure (the stampede benchmark reads it).
        int mostAtOnce = 0;
        foreach (NodeProcess n in Nodes) mostAtOnce = Math.Max(mostAtOnce, (await n.StatusAsync()).PeerServeMaxConcurrency);
        Assert.True(mostAtOnce > 0, $"no owner counted a peer request it served over {transport}");
        // No UDP frame was malformed or out of protocol (peer failures are timing, not checked: the box may be loaded).
        long dropped = 0;
        foreach (NodeProcess n in Nodes) dropped += (await n.StatusAsync()).UdpFramesDropped;
        Assert.Equal(0, dropped);
    }

    [Fact]
    public async Task Killing_an_owner_mid_read_still_completes_every_read_byte_exact()
    {
        const string name = "big/sixty-four.bin";
        BlobClient blob = Nodes[0].Client.GetBlobContainerClient(Dataset.Container).GetBlobClient(name);
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
                    Nodes[2].Kill(); // an owner of some of the chunks still to come
                    killed = true;
                }
            }
            Assert.True(killed);
            Assert.Equal(Fixture.Dataset.Sha256[name], Convert.ToHexStringLower(sha.GetHashAndReset()));
        }
        // The rest of the dataset through the other survivor, while the mesh still lists the dead node.
        await ReadAllAsync(Nodes[1]);
        Assert.True((await Nodes[1].StatusAsync()).PeerFailures + (await Nodes[0].StatusAsync()).PeerFailures > 0,
            "no read went to the dead owner, so this test proved nothing");
    }
}
