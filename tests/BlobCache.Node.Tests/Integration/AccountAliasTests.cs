using System.Security.Cryptography;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Integration;

/// <summary>
/// A client that insists on another account name (hadoop-azure's wasb emulator mode always says devstoreaccount1)
/// reads the origin's account through an alias, from the same cache.
/// </summary>
[Collection(MeshCollection.Name)]
public sealed class AccountAliasTests(MeshFixture fixture)
{
    [Fact]
    public async Task An_alias_reads_the_origins_blobs_from_the_same_cache_and_other_names_are_refused()
    {
        await using NodeProcess node = NodeProcess.Start("alias-0", fixture.Azurite.ConnectionString, [], "--account-aliases", "sparkstore,wasbdev");
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
        string blob = fixture.Dataset.Sha256.Keys.First(k => fixture.Dataset.Lengths[k] > 4 * 1024 * 1024);

        // The SDK, unchanged, with a connection string naming the alias.
        var viaAlias = new BlobServiceClient($"DefaultEndpointsProtocol=http;AccountName=sparkstore;AccountKey=bm90LXVzZWQ=;BlobEndpoint=http://127.0.0.1:{node.HttpPort}/sparkstore;");
        BlobContainerClient container = viaAlias.GetBlobContainerClient(Dataset.Container);
        BlobDownloadResult downloaded = (await container.GetBlobClient(blob).DownloadContentAsync()).Value;
        Assert.Equal(fixture.Dataset.Sha256[blob], Convert.ToHexStringLower(SHA256.HashData(downloaded.Content.ToArray())));
        var listed = new List<string>();
        await foreach (BlobItem item in container.GetBlobsAsync(BlobTraits.None, BlobStates.None, blob, default)) listed.Add(item.Name);
        Assert.Contains(blob, listed);

        // The same chunks under the real name: no new Blob reads.
        long gets = (await node.StatusAsync()).BlobGets;
        byte[] again = (await node.Client.GetBlobContainerClient(Dataset.Container).GetBlobClient(blob).DownloadContentAsync()).Value.Content.ToArray();
        Assert.Equal(fixture.Dataset.Sha256[blob], Convert.ToHexStringLower(SHA256.HashData(again)));
        Assert.Equal(gets, (await node.StatusAsync()).BlobGets);

        // A name that is neither the origin's nor an alias is a Blob-style 404.
        var other = new BlobServiceClient($"DefaultEndpointsProtocol=http;AccountName=elsewhere;AccountKey=bm90LXVzZWQ=;BlobEndpoint=http://127.0.0.1:{node.HttpPort}/elsewhere;");
        RequestFailedException e = await Assert.ThrowsAsync<RequestFailedException>(() => other.GetBlobContainerClient(Dataset.Container).GetBlobClient(blob).DownloadContentAsync());
        Assert.Equal(404, e.Status);
    }
}
