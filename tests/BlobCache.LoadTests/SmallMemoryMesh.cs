using System.Globalization;
using BlobCache.Testing;

namespace BlobCache.LoadTests;

/// <summary>
/// A mesh whose nodes have a small memory tier over a disk tier of their own (temporary directories, deleted with the
/// mesh): the epoch and stampede runs again under memory pressure, where Blob GETs per chunk must stay what they are
/// with a memory tier that holds everything.
/// </summary>
internal sealed class SmallMemoryMesh : IAsyncDisposable
{
    private readonly string _cacheRoot;

    private SmallMemoryMesh(List<NodeProcess> nodes, string cacheRoot)
    {
        Nodes = nodes;
        _cacheRoot = cacheRoot;
    }

    public List<NodeProcess> Nodes { get; }

    public static async Task<SmallMemoryMesh> StartAsync(Azurite azurite, string prefix, int count, int memoryMb)
    {
        string root = Directory.CreateTempSubdirectory("blobcache-bench-disk-").FullName;
        try
        {
            List<NodeProcess> nodes = await Bench.StartMeshAsync(azurite, prefix, count, i =>
                ["--memory-mb", memoryMb.ToString(CultureInfo.InvariantCulture), "--cache-dir", Path.Combine(root, i.ToString(CultureInfo.InvariantCulture))]);
            return new SmallMemoryMesh(nodes, root);
        }
        catch
        {
            Directory.Delete(root, recursive: true);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (NodeProcess n in Nodes) await n.DisposeAsync();
        Directory.Delete(_cacheRoot, recursive: true);
    }
}
