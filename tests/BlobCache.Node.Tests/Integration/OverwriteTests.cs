using System.Security.Cryptography;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Integration;

/// <summary>A blob overwritten while it is being read: every reader sees one version whole, or a clear error.</summary>
[Collection(MeshCollection.Name)]
public sealed class OverwriteTests(MeshFixture fixture) : IAsyncLifetime
{
    private const int Size = 20 * 1024 * 1024 + 99;
    private const string Container = "overwrites";
    private List<NodeProcess> _nodes = [];

    public async Task InitializeAsync() => _nodes = await fixture.StartMeshAsync("ow", 2);

    public async Task DisposeAsync()
    {
        foreach (NodeProcess n in _nodes) await n.DisposeAsync();
    }

    private static byte[] Version(int seed)
    {
        byte[] data = new byte[Size];
        new Random(seed).NextBytes(data);
        return data;
    }

    [Fact]
    public async Task Readers_see_one_version_whole_or_an_error_never_a_mix()
    {
        string name = "overwrite/model.bin";
        // A container of its own, so the shared dataset stays as uploaded for the other tests.
        BlobContainerClient originContainer = fixture.Azurite.Client.GetBlobContainerClient(Container);
        await originContainer.CreateIfNotExistsAsync();
        BlobClient origin = originContainer.GetBlobClient(name);
        var versions = Enumerable.Range(1, 4).Select(Version).ToArray();
        var hashes = versions.Select(v => Convert.ToHexStringLower(SHA256.HashData(v))).ToHashSet();
        await origin.UploadAsync(new BinaryData(versions[0]), overwrite: true);

        // A streaming reader that holds the first version's ETag (If-Match on every range) across an overwrite.
        BlobClient viaNode = _nodes[0].Client.GetBlobContainerClient(Container).GetBlobClient(name);
        Stream stream = await viaNode.OpenReadAsync(new BlobOpenReadOptions(allowModifications: false) { BufferSize = 4 * 1024 * 1024 });
        byte[] got = new byte[Size];
        int filled = await stream.ReadAtLeastAsync(got.AsMemory(0, 6 * 1024 * 1024), 6 * 1024 * 1024);
        await origin.UploadAsync(new BinaryData(versions[1]), overwrite: true);
        try
        {
            int n;
            while ((n = await stream.ReadAsync(got.AsMemory(filled))) > 0) filled += n;
            Assert.Equal(Size, filled);
            Assert.Equal(versions[0], got); // served whole from the old version's cached chunks
        }
        catch (RequestFailedException e)
        {
            Assert.Equal(412, e.Status); // the old version is gone: a clear error, not new bytes
        }
        await stream.DisposeAsync();

        // Whole-blob readers on both nodes while the blob is overwritten twice more.
        int whole = 0, failed = 0;
        using var http = new HttpClient();
        Task writer = Task.Run(async () =>
        {
            await origin.UploadAsync(new BinaryData(versions[2]), overwrite: true);
            await origin.UploadAsync(new BinaryData(versions[3]), overwrite: true);
        });
        var readers = Enumerable.Range(0, 8).Select(async i =>
        {
            for (int round = 0; round < 3; round++)
            {
                try
                {
                    byte[] body = await http.GetByteArrayAsync($"{_nodes[i % 2].Endpoint}/{Container}/{name}");
                    Assert.Contains(Convert.ToHexStringLower(SHA256.HashData(body)), hashes);
                    Interlocked.Increment(ref whole);
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref failed); // 412 or a cut connection: the reader knows to retry
                }
            }
        }).ToList();
        await Task.WhenAll(readers.Append(writer));
        Assert.True(whole > 0, $"no reader completed ({failed} failed)");

        // Within the metadata TTL every node serves the newest version.
        string newest = Convert.ToHexStringLower(SHA256.HashData(versions[3]));
        foreach (NodeProcess node in _nodes)
        {
            try
            {
                await Wait.UntilAsync(async () =>
                    Convert.ToHexStringLower(SHA256.HashData(await http.GetByteArrayAsync($"{node.Endpoint}/{Container}/{name}"))) == newest,
                    TimeSpan.FromSeconds(30), $"{node.Id} to serve the newest version");
            }
            catch (TimeoutException e)
            {
                throw new TimeoutException($"{e.Message}\n{string.Join("\n", _nodes.Select(n => $"--- {n.Id} log (end):\n{n.LogTail(40)}"))}", e);
            }
        }
    }
}
