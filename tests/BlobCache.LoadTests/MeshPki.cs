using System.Globalization;
using BlobCache.Testing;

namespace BlobCache.LoadTests;

/// <summary>
/// Peer security for a benchmark mesh as users run it: each node gets a certificate from one throwaway CA (mutual TLS
/// on the peer transports) next to the tests' gossip keyring (<see cref="NodeProcess"/> adds it). Files live in a
/// temporary directory, deleted with this.
/// </summary>
internal sealed class MeshPki : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("blobcache-bench-pki-").FullName;
    private readonly TestCa _ca;

    public MeshPki(string name) => _ca = TestCa.Create(name);

    /// <summary>The TLS flags of node <paramref name="i"/> of a mesh named <paramref name="prefix"/>.</summary>
    public string[] NodeArgs(string prefix, int i)
    {
        string name = $"{prefix}-{i.ToString(CultureInfo.InvariantCulture)}";
        return _ca.WriteNode(Path.Combine(_dir, name), name).Args;
    }

    public void Dispose()
    {
        _ca.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
