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

/// <summary>The mesh read tests over gRPC (the default transport), and the endpoint's Blob behaviour.</summary>
[Collection(MeshCollection.Name)]
public sealed class MeshReadTests(MeshFixture fixture) : MeshReadTestsBase(fixture, "grpc")
{
    [Fact]
    public async Task Many_concurrent_readers_of_one_blob_cost_one_Blob_GET_per_chunk()
    {
        const string name = "big/forty.bin";
        await Task.WhenAll(Enumerable.Range(0, 12).Select(async i =>
        {
            NodeProcess node = Nodes[i % Nodes.Count];
            BlobClient blob = node.Client.GetBlobContainerClient(Dataset.Container).GetBlobClient(name);
            using var buffer = new MemoryStream();
            await blob.DownloadToAsync(buffer, new BlobDownloadToOptions { TransferOptions = MeshFixture.Parallel4 });
            Assert.Equal(Fixture.Dataset.Sha256[name], Convert.ToHexStringLower(SHA256.HashData(buffer.ToArray())));
        }));
        long expected = (Fixture.Dataset.Lengths[name] + ChunkSize - 1) / ChunkSize, gets = await TotalBlobGetsAsync();
        Assert.True(expected == gets, $"{gets} Blob GETs for {expected} chunks; warnings:\n{Warnings()}");
    }


    [Fact]
    public async Task Bytes_by_source_count_what_readers_got_not_whole_chunks()
    {
        // A 300-byte range across a chunk boundary, twice: two chunks a read, the first time from Blob or a peer, the
        // second from this node's memory. The status must count 2 x 300 bytes, not 4 x 4 MiB.
        NodeProcess node = Nodes[0];
        BlobClient blob = node.Client.GetBlobContainerClient(Dataset.Container).GetBlobClient("big/nine.bin");
        var range = new HttpRange(ChunkSize - 100, 300);
        StatusReport before = await node.StatusAsync();
        for (int i = 0; i < 2; i++)
            Assert.Equal(300, (await blob.DownloadContentAsync(new BlobDownloadOptions { Range = range })).Value.Content.ToArray().Length);
        // The node counts a slice once its write has completed, which can be just after the reader has the bytes.
        StatusReport after = before;
        long Delta(Func<StatusReport, IReadOnlyDictionary<string, long>> of) => of(after).Sum(kv => kv.Value) - of(before).Sum(kv => kv.Value);
        await Wait.UntilAsync(async () =>
        {
            after = await node.StatusAsync();
            return Delta(s => s.BytesBySource) >= 600;
        }, TimeSpan.FromSeconds(10), "the status to count the 600 bytes of both reads");
        Assert.Equal(600, Delta(s => s.BytesBySource));
        Assert.Equal(4, Delta(s => s.ReadsBySource));
        // The second read is all memory. The first read's second chunk is fetched ahead while its first is still
        // coming, and counted where that fetch got it even when it is already in memory by the time the reader takes it.
        Assert.Equal(300, after.BytesBySource["memory"] - before.BytesBySource["memory"]);
    }

    [Fact]
    public async Task Ranges_properties_listing_and_errors_look_like_Blob()
    {
        BlobContainerClient container = Nodes[0].Client.GetBlobContainerClient(Dataset.Container);
        BlobClient blob = container.GetBlobClient("big/nine.bin");
        long length = Fixture.Dataset.Lengths["big/nine.bin"];

        BlobProperties props = (await blob.GetPropertiesAsync()).Value;
        Assert.Equal(length, props.ContentLength);
        BlobProperties origin = (await Fixture.Azurite.Client.GetBlobContainerClient(Dataset.Container).GetBlobClient("big/nine.bin").GetPropertiesAsync()).Value;
        Assert.Equal(origin.ETag, props.ETag);

        // A range across a chunk boundary equals the same bytes from Azurite.
        var range = new HttpRange(ChunkSize - 100, 300);
        byte[] viaCache = (await blob.DownloadContentAsync(new BlobDownloadOptions { Range = range })).Value.Content.ToArray();
        byte[] direct = (await Fixture.Azurite.Client.GetBlobContainerClient(Dataset.Container).GetBlobClient("big/nine.bin")
            .DownloadContentAsync(new BlobDownloadOptions { Range = range })).Value.Content.ToArray();
        Assert.Equal(direct, viaCache);

        // Raw HTTP: open-ended, suffix, unsatisfiable and malformed ranges.
        using var http = new HttpClient();
        string url = $"{Nodes[0].Endpoint}/{Dataset.Container}/big/nine.bin";
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
        using (HttpResponseMessage r = await http.GetAsync($"{Nodes[0].Endpoint}/Bad_Container/x"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Equal("InvalidResourceName", r.Headers.GetValues("x-ms-error-code").Single());
        }

        // A snapshot or an older version is refused, never answered with the current bytes.
        foreach (string query in (string[])["snapshot=2026-01-01T00:00:00.0000000Z", "versionid=2026-01-01T00:00:00.0000000Z"])
        {
            using HttpResponseMessage r = await http.GetAsync($"{url}?{query}");
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Equal("UnsupportedQueryParameter", r.Headers.GetValues("x-ms-error-code").Single());
        }
        // Get Blob Metadata answers with headers only, never the blob's bytes.
        using (HttpResponseMessage r = await http.GetAsync($"{url}?comp=metadata"))
        {
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Empty(await r.Content.ReadAsByteArrayAsync());
        }

        // The SDK sees Blob's error codes.
        RequestFailedException missing = await Assert.ThrowsAsync<RequestFailedException>(() => container.GetBlobClient("no/such.bin").DownloadContentAsync());
        Assert.Equal(404, missing.Status);
        Assert.Equal("BlobNotFound", missing.ErrorCode);
        Assert.False((await container.GetBlobClient("no/such.bin").ExistsAsync()).Value);
        Assert.True((await container.ExistsAsync()).Value);
        Assert.False((await Nodes[0].Client.GetBlobContainerClient("no-such-container").ExistsAsync()).Value);

        // Listing passes through, with prefixes and pages.
        var names = new List<string>();
        await foreach (Page<BlobItem> page in container.GetBlobsAsync(BlobTraits.None, BlobStates.None, "samples/", default).AsPages(pageSizeHint: 7))
        {
            Assert.True(page.Values.Count <= 7);
            names.AddRange(page.Values.Select(b => b.Name));
        }
        Assert.Equal(Fixture.Dataset.Sha256.Keys.Where(k => k.StartsWith("samples/", StringComparison.Ordinal)).Order(StringComparer.Ordinal), names);
        var dirs = new List<string>();
        await foreach (BlobHierarchyItem item in container.GetBlobsByHierarchyAsync(BlobTraits.None, BlobStates.None, "/", null, default))
            if (item.IsPrefix) dirs.Add(item.Prefix);
        Assert.Equal(["big/", "edge/", "samples/"], dirs.Order(StringComparer.Ordinal));

        // Empty blob: 200 with no bytes.
        Assert.Empty((await container.GetBlobClient("edge/empty.bin").DownloadContentAsync()).Value.Content.ToArray());
    }
}
