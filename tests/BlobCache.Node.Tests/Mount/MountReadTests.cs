using BlobCache.Node.Hosting;
using BlobCache.Node.Tests.Faults;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;
using Xunit.Abstractions;

namespace BlobCache.Node.Tests.Mount;

/// <summary>Real users of a node's mount: cp -r, sha256sum, Python open() and mmap, a PyTorch DataLoader, several nodes' mounts.</summary>
[Collection(MeshCollection.Name)]
public sealed class MountReadTests(MeshFixture fixture, ITestOutputHelper output)
{
    private const int ChunkSize = 4 * 1024 * 1024;

    private void AssertExact(IReadOnlyDictionary<string, string> read, string who)
    {
        Assert.Equal(fixture.Dataset.Sha256.Keys.Order(), read.Keys.Order());
        foreach ((string name, string sha) in fixture.Dataset.Sha256) Assert.True(read[name] == sha, $"{name} read by {who} has wrong bytes");
    }

    /// <summary>`sha256sum` of every file under <paramref name="root"/>, by relative path.</summary>
    private static async Task<Dictionary<string, string>> Sha256SumAsync(string root)
    {
        string[] files = Directory.GetFiles(root, "*", SearchOption.AllDirectories);
        (int code, string text) = await Shell.RunAsync(["sha256sum", .. files]);
        Assert.True(code == 0, $"sha256sum failed: {text}");
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split("  ", 2))
            .ToDictionary(p => Path.GetRelativePath(root, p[1]), p => p[0]);
    }

    [SkippableFact]
    public async Task Cp_r_and_sha256sum_read_every_blob_byte_exact_with_the_containers_directories()
    {
        Skip.IfNot(MountedNode.FuseAvailable, MountedNode.NoFuse);
        await using MountedNode mount = await MountedNode.StartAsync("mcp", fixture.Azurite.ConnectionString, [], Dataset.Container);
        Assert.Equal(["big", "edge", "samples"], Directory.GetDirectories(mount.Directory).Select(Path.GetFileName).Order());
        Assert.Equal(fixture.Dataset.Lengths["big/forty.bin"], new FileInfo(Path.Combine(mount.Directory, "big", "forty.bin")).Length);

        using var copy = new TempDir("blobcache-mount-copy-");
        string target = Path.Combine(copy.Path, "dataset");
        (int code, string text) = await Shell.RunAsync("cp", "-r", mount.Directory, target);
        Assert.True(code == 0, $"cp -r failed: {text}");
        AssertExact(await Sha256SumAsync(target), "cp -r");
        AssertExact(await Sha256SumAsync(mount.Directory), "sha256sum on the mount");
        StatusReport status = await mount.Node.StatusAsync();
        Survivors.Say(output, $"cp -r and sha256sum of {fixture.Dataset.TotalBytes >> 20} MiB through the mount: reads by source {string.Join(", ", status.ReadsBySource.Select(kv => $"{kv.Key} {kv.Value}"))}, Blob GETs {status.BlobGets}");
        Assert.Equal(fixture.Dataset.ChunkCount(ChunkSize), status.BlobGets); // the second pass came from the node's memory
    }

    [SkippableFact]
    public async Task Python_open_and_mmap_read_every_blob_byte_exact()
    {
        Skip.IfNot(MountedNode.FuseAvailable, MountedNode.NoFuse);
        await using MountedNode mount = await MountedNode.StartAsync("mpy", fixture.Azurite.ConnectionString, [], Dataset.Container);
        AssertExact(await Python.HashTreeAsync(mount.Directory, "open"), "Python open()");
        AssertExact(await Python.HashTreeAsync(mount.Directory, "mmap"), "Python mmap");
    }

    [SkippableFact]
    public async Task A_PyTorch_DataLoader_with_workers_reads_every_file_of_the_mount_byte_exact()
    {
        Skip.IfNot(MountedNode.FuseAvailable, MountedNode.NoFuse);
        await using MountedNode mount = await MountedNode.StartAsync("mtorch", fixture.Azurite.ConnectionString, [], Dataset.Container);
        AssertExact(await Python.HashTreeAsync(mount.Directory, "dataloader", "4"), "a DataLoader with 4 workers");
        Assert.True((await mount.Node.StatusAsync()).ReadsBySource.Values.Sum() > 0, "the reads did not go through the node");
    }

    [SkippableFact]
    public async Task Readers_on_three_nodes_mounts_read_the_same_dataset_at_once_with_one_Blob_GET_per_chunk()
    {
        Skip.IfNot(MountedNode.FuseAvailable, MountedNode.NoFuse);
        var mounts = new List<MountedNode>();
        try
        {
            mounts.Add(await MountedNode.StartAsync("mmesh-0", fixture.Azurite.ConnectionString, [], Dataset.Container));
            for (int i = 1; i < 3; i++)
                mounts.Add(await MountedNode.StartAsync($"mmesh-{i}", fixture.Azurite.ConnectionString, [mounts[0].Node.GossipAddress], Dataset.Container));
            await Wait.UntilAsync(async () =>
            {
                foreach (MountedNode m in mounts)
                {
                    if ((await m.Node.StatusAsync()).LiveMembers != mounts.Count) return false;
                }
                return true;
            }, TimeSpan.FromSeconds(30), "the three nodes to see each other");

            Dictionary<string, string>[] read = await Task.WhenAll(mounts.Select(m => Sha256SumAsync(m.Directory)));
            for (int i = 0; i < read.Length; i++) AssertExact(read[i], $"sha256sum on node {i}'s mount");
            long gets = 0;
            foreach (MountedNode m in mounts) gets += (await m.Node.StatusAsync()).BlobGets;
            Survivors.Say(output, $"3 nodes' mounts read {fixture.Dataset.TotalBytes >> 20} MiB each at once: {gets} Blob GETs for {fixture.Dataset.ChunkCount(ChunkSize)} chunks");
            Assert.Equal(fixture.Dataset.ChunkCount(ChunkSize), gets);
        }
        finally
        {
            foreach (MountedNode m in mounts) await m.DisposeAsync();
        }
    }

    [SkippableFact]
    public async Task Blobcache_mount_of_a_prefix_alone_on_loopback_needs_no_keyring_and_shows_the_prefix_as_its_root()
    {
        Skip.IfNot(MountedNode.FuseAvailable, MountedNode.NoFuse);
        using var dir = new TempDir("blobcache-mount-cli-");
        string Port() => Ports.Next().ToString(System.Globalization.CultureInfo.InvariantCulture);
        using System.Diagnostics.Process node = NodeProcess.Launch(["mount", $"{Azurite.Account}/{Dataset.Container}/big/", dir.Path,
            "--origin", fixture.Azurite.ConnectionString, "--http-port", Port(), "--grpc-port", Port(), "--gossip-port", Port(), "--udp-port", Port(),
            "--memory-mb", "256"], new Dictionary<string, string>());
        node.BeginOutputReadLine(); // drained, so the node never waits on a full pipe
        node.BeginErrorReadLine();
        try
        {
            await Wait.UntilAsync(() => Task.FromResult(node.HasExited ? throw new InvalidOperationException($"blobcache mount exited with {node.ExitCode}") : MountedNode.IsMounted(dir.Path)),
                TimeSpan.FromSeconds(60), "blobcache mount to mount");
            string[] expected = fixture.Dataset.Sha256.Keys.Where(k => k.StartsWith("big/", StringComparison.Ordinal)).Select(k => k["big/".Length..]).Order().ToArray();
            Assert.Equal(expected, Directory.GetFiles(dir.Path).Select(Path.GetFileName).Order());
            Dictionary<string, string> read = await Sha256SumAsync(dir.Path);
            foreach (string name in expected) Assert.True(read[name] == fixture.Dataset.Sha256["big/" + name], $"big/{name} read wrong through the prefix mount");
        }
        finally
        {
            if (!node.HasExited) node.Kill();
            await node.WaitForExitAsync();
            await MountedNode.DetachAsync(dir.Path);
        }
    }
}
