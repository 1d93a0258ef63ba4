using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

/// <summary>
/// Interns member ids and metadata as small integers, so member tables hold fixed-size structs instead of strings.
/// A real node has one of its own; the simulator gives every virtual node the same one, so equal views use
/// equal indexes and can share a table base. Indexes are handed out in first-seen order and never reused.
/// Not thread-safe: the host drives the mesh from one loop.
/// </summary>
public sealed class MemberDirectory
{
    private readonly Dictionary<string, int> _byId = new(StringComparer.Ordinal);
    private readonly List<string> _ids = [];
    private readonly List<ulong> _idHashes = [];
    private readonly Dictionary<MemberMeta, int> _metaHandles = [];
    private readonly List<MemberMeta?> _metas = [null]; // handle 0 = no metadata

    /// <summary>How many member ids have been seen; valid indexes are [0, Count).</summary>
    public int Count => _ids.Count;

    public int GetOrAdd(string id)
    {
        if (_byId.TryGetValue(id, out int index)) return index;
        index = _ids.Count;
        _byId.Add(id, index);
        _ids.Add(id);
        _idHashes.Add(Placement.StableHash.Of(id));
        return index;
    }

    public bool TryGet(string id, out int index) => _byId.TryGetValue(id, out index);

    public string IdOf(int index) => _ids[index];

    /// <summary>The stable 64-bit hash of the member's id, which placement ranks by.</summary>
    public ulong IdHashOf(int index) => _idHashes[index];

    /// <summary>Returns the handle of an equal metadata value, adding it if new. Handle 0 is never returned.</summary>
    public int Intern(MemberMeta meta)
    {
        if (_metaHandles.TryGetValue(meta, out int handle)) return handle;
        handle = _metas.Count;
        _metas.Add(meta);
        _metaHandles.Add(meta, handle);
        return handle;
    }

    public MemberMeta MetaOf(int handle) =>
        _metas[handle] ?? throw new InvalidOperationException("metadata handle 0 has no value");
}
