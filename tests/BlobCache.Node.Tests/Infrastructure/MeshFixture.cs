using System.Security.Cryptography;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Infrastructure;

/// <summary>Azurite, a dataset in it, and helpers to start meshes of real nodes against it. One per test run.</summary>
public sealed class MeshFixture : IAsyncLifetime
{
    public Azurite Azurite { get; } = new();
    public Dataset Dataset { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await Azurite.StartAsync().ConfigureAwait(false);
        Dataset = await Dataset.UploadAsync(Azurite.Client, seed: 20261125).ConfigureAwait(false);
    }

    /// <summary>Starts <paramref name="count"/> nodes joined through the first, and waits until each sees all of them live.</summary>
    public Task<List<NodeProcess>> StartMeshAsync(string prefix, int count, params string[] extra) =>
        StartMeshOnAsync(Azurite.ConnectionString, prefix, count, extra);

    /// <summary>Like <see cref="StartMeshAsync"/> with another origin connection string (Azurite behind a proxy).</summary>
    public static async Task<List<NodeProcess>> StartMeshOnAsync(string origin, string prefix, int count, params string[] extra)
    {
        var nodes = new List<NodeProcess>();
        try
        {
            nodes.Add(NodeProcess.Start($"{prefix}-0", origin, [], extra));
            for (int i = 1; i < count; i++) nodes.Add(NodeProcess.Start($"{prefix}-{i}", origin, [nodes[0].GossipAddress], extra));
            await NodeProcess.WaitJoinedAsync(nodes).ConfigureAwait(false);
            return nodes;
        }
        catch
        {
            foreach (NodeProcess n in nodes) await n.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>How the tests download: 4 MiB ranges (a chunk each), 4 at once.</summary>
    public static readonly StorageTransferOptions Parallel4 = new()
    {
        InitialTransferSize = 4 * 1024 * 1024,
        MaximumTransferSize = 4 * 1024 * 1024,
        MaximumConcurrency = 4,
    };

    /// <summary>Reads every blob of the dataset through a node with the SDK (ranged 4 MiB, 4 at once) and checks its hash.</summary>
    public async Task ReadDatasetAsync(NodeProcess node)
    {
        BlobContainerClient container = node.Client.GetBlobContainerClient(Dataset.Container);
        foreach ((string name, string sha) in Dataset.Sha256)
        {
            using var buffer = new MemoryStream();
            await container.GetBlobClient(name).DownloadToAsync(buffer, new BlobDownloadToOptions { TransferOptions = Parallel4 }).ConfigureAwait(false);
            Assert.True(sha == Convert.ToHexStringLower(SHA256.HashData(buffer.ToArray())), $"{name} through {node.Id} has wrong bytes");
        }
    }

    public async Task DisposeAsync() => await Azurite.DisposeAsync().ConfigureAwait(false);
}

[CollectionDefinition(Name)]
public sealed class MeshCollection : ICollectionFixture<MeshFixture>
{
    public const string Name = "real nodes and Azurite";
}
