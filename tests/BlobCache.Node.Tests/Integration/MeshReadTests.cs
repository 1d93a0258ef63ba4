using System.Net;
using System.Security.Cryptography;
using Azure;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using BlobCache.Node.Hosting;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Integration;

/// <summary>Three real nodes on loopback in front of Azurite, read with the Azure SDK for .NET.</summary>
[Collection(MeshCollection.Name)]
public sealed class MeshReadTests(MeshFixture fixture) : IAsyncLifetime
{
    private const int ChunkSize = 4 * 1024 * 1024;
    private List<NodeProcess> _nodes = [];

    public async Task InitializeAsync() => _nodes = await fixture.StartMeshAsync("read", 3);

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

    /// <summary>Reads every blob of the dataset through a node with the SDK (ranged, parallel) and checks its hash.</summary>
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
    public async Task Every_node_serves_the_dataset_byte_exact_and_Blob_is_read_once_per_chunk()
    {
        await ReadAllAsync(_nodes[0]);
        long chunks = fixture.Dataset.ChunkCount(ChunkSize);
        Assert.Equal(chunks, await TotalBlobGetsAsync());
        // Every node owns part of the dataset: the chunks were spread, not all filled by the reader.
        foreach (NodeProcess n in _nodes) Assert.True((await n.StatusAsync()).BlobGets > 0, $"{n.Id} filled no chunk");

        // Second pass through the other nodes: peers and memory serve it, Blob is not asked again.
        await ReadAllAsync(_nodes[1]);
        await ReadAllAsync(_nodes[2]);
        Assert.Equal(chunks, await TotalBlobGetsAsync());
        StatusReport second = await _nodes[1].StatusAsync();
        Assert.True(second.ReadsBySource["peer"] > 0, "node 1 read nothing from peers");
        Assert.Equal(0, second.ReadsBySource["blob"] + (await _nodes[2].StatusAsync()).ReadsBySource["blob"]);
    }

    [Fact]
    public async Task Many_concurrent_readers_of_one_blob_cost_one_Blob_GET_per_chunk()
    {
        const string name = "big/forty.bin";
        await Task.WhenAll(Enumerable.Range(0, 12).Select(async i =>
        {
            NodeProcess node = _nodes[i % _nodes.Count];
            BlobClient blob = node.Client.GetBlobContainerClient(Dataset.Container).GetBlobClient(name);
            using var buffer = new MemoryStream();
            await blob.DownloadToAsync(buffer, new BlobDownloadToOptions { TransferOptions = Parallel4 });
            Assert.Equal(fixture.Dataset.Sha256[name], Convert.ToHexStringLower(SHA256.HashData(buffer.ToArray())));
        }));
        long expected = (fixture.Dataset.Lengths[name] + ChunkSize - 1) / ChunkSize, gets = await TotalBlobGetsAsync();
        Assert.True(expected == gets, $"{gets} Blob GETs for {expected} chunks; warnings:\n{Warnings()}");
    }

    private string Warnings() => string.Join('\n', _nodes.SelectMany(n => n.Log.Split('\n').Where(l => l.Contains("warn", StringComparison.Ordinal)).Select(l => $"{n.Id}: {l}")));

    [Fact]
    public async Task Ranges_properties_listing_and_errors_look_like_Blob()
    {
        BlobContainerClient container = _nodes[0].Client.GetBlobContainerClient(Dataset.Container);
        BlobClient blob = container.GetBlobClient("big/nine.bin");
        long length = fixture.Dataset.Lengths["big/nine.bin"];

        BlobProperties props = (await blob.GetPropertiesAsync()).Value;
        Assert.Equal(length, props.ContentLength);
        BlobProperties origin = (await fixture.Azurite.Client.GetBlobContainerClient(Dataset.Container).GetBlobClient("big/nine.bin").GetPropertiesAsync()).Value;
        Assert.Equal(origin.ETag, props.ETag);

        // A range across a chunk boundary equals the same bytes from Azurite.
        var range = new HttpRange(ChunkSize - 100, 300);
        byte[] viaCache = (await blob.DownloadContentAsync(new BlobDownloadOptions { Range = range })).Value.Content.ToArray();
        byte[] direct = (await fixture.Azurite.Client.GetBlobContainerClient(Dataset.Container).GetBlobClient("big/nine.bin")
            .DownloadContentAsync(new BlobDownloadOptions { Range = range })).Value.Content.ToArray();
        Assert.Equal(direct, viaCache);

        // Raw HTTP: open-ended, suffix, unsatisfiable and malformed ranges.
        using var http = new HttpClient();
        string url = $"{_nodes[0].Endpoint}/{Dataset.Container}/big/nine.bin";
        using (var req = new HttpRequestMessage(HttpMethod.Get, url) { Headers = { { "x-ms-range", $"bytes={length - 10}-" } } })
        using (HttpResponseMessage r = await http.SendAsync(req))
        {
            Assert.Equal(HttpStatusCode.PartialContent, r.StatusCode);
            Assert.Equal(10, (await r.Content.ReadAsByteArrayAsync()).Length);
            Assert.Equal($"bytes {length - 10}-{length - 1}/{length}", r.Content.Headers.ContentRange!.ToString());
        }
        using (var req = new HttpRequestMessage(HttpMethod.Get, url) { Headers = { { "Range", "bytes=-5" } } })
        using (HttpResponseMessage r = await http.SendAsync(req))
        {
            Assert.Equal(HttpStatusCode.PartialContent, r.StatusCode);
            Assert.Equal(5, (await r.Content.ReadAsByteArrayAsync()).Length);
        }
        using (var req = new HttpRequestMessage(HttpMethod.Get, url) { Headers = { { "x-ms-range", $"bytes={length}-" } } })
        using (HttpResponseMessage r = await http.SendAsync(req))
        {
            Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, r.StatusCode);
            Assert.Equal("InvalidRange", r.Headers.GetValues("x-ms-error-code").Single());
            Assert.Contains("<Code>InvalidRange</Code>", await r.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        using (var req = new HttpRequestMessage(HttpMethod.Get, url) { Headers = { { "x-ms-range", "bytes=9-3" } } })
        using (HttpResponseMessage r = await http.SendAsync(req))
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        using (HttpResponseMessage r = await http.GetAsync($"{_nodes[0].Endpoint}/Bad_Container/x"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Equal("InvalidResourceName", r.Headers.GetValues("x-ms-error-code").Single());
        }

        // The SDK sees Blob's error codes.
        RequestFailedException missing = await Assert.ThrowsAsync<RequestFailedException>(() => container.GetBlobClient("no/such.bin").DownloadContentAsync());
        Assert.Equal(404, missing.Status);
        Assert.Equal("BlobNotFound", missing.ErrorCode);
        Assert.False((await container.GetBlobClient("no/such.bin").ExistsAsync()).Value);
        Assert.True((await container.ExistsAsync()).Value);
        Assert.False((await _nodes[0].Client.GetBlobContainerClient("no-such-container").ExistsAsync()).Value);

        // Listing passes through, with prefixes and pages.
        var names = new List<string>();
        await foreach (Page<BlobItem> page in container.GetBlobsAsync(BlobTraits.None, BlobStates.None, "samples/", default).AsPages(pageSizeHint: 7))
        {
            Assert.True(page.Values.Count <= 7);
            names.AddRange(page.Values.Select(b => b.Name));
        }
        Assert.Equal(fixture.Dataset.Sha256.Keys.Where(k => k.StartsWith("samples/", StringComparison.Ordinal)).Order(StringComparer.Ordinal), names);
        var dirs = new List<string>();
        await foreach (BlobHierarchyItem item in container.GetBlobsByHierarchyAsync(BlobTraits.None, BlobStates.None, "/", null, default))
            if (item.IsPrefix) dirs.Add(item.Prefix);
        Assert.Equal(["big/", "edge/", "samples/"], dirs.Order(StringComparer.Ordinal));

        // Empty blob: 200 with no bytes.
        Assert.Empty((await container.GetBlobClient("edge/empty.bin").DownloadContentAsync()).Value.Content.ToArray());
    }

    [Fact]
    public async Task Killing_an_owner_mid_read_still_completes_every_read_byte_exact()
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
