using BlobCache.Node.Gossip;

namespace BlobCache.Testing;

/// <summary>
/// The mesh view of a <see cref="Node.Reading.ChunkReader"/> run in process on its own (a benchmark of memory hits,
/// a fuzz target of the owner's side): consulting it is a bug in the caller, so it throws.
/// </summary>
public sealed class NoMesh : IMeshView
{
    public MeshSnapshot Current => throw new InvalidOperationException("this reader has no mesh: only memory hits and the owner's side may run");
}
