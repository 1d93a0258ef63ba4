using BlobCache.Mesh.Placement;
using BlobCache.Protocol.Gossip;

namespace BlobCache.Node.Gossip;

/// <summary>One member as this node sees it, for /status.</summary>
public sealed record MemberStatus(string Id, string Region, string Zone, MemberState State, uint Incarnation, string GossipAddress);

/// <summary>
/// An immutable picture of the mesh that readers use without locks: placement over the live members and each
/// member's metadata by index. The gossip host publishes a new one when membership changes.
/// </summary>
public sealed class MeshSnapshot(int self, string region, PlacementMap placement, MemberMeta?[] metas, IReadOnlyList<MemberStatus> members, int version)
{
    public int Self { get; } = self;
    public string Region { get; } = region;
    public PlacementMap Placement { get; } = placement;
    public IReadOnlyList<MemberStatus> Members { get; } = members;
    public int Version { get; } = version;

    public MemberMeta? MetaOf(int member) => (uint)member < (uint)metas.Length ? metas[member] : null;

    public int LiveCount => Members.Count(m => m.State is MemberState.Alive or MemberState.Suspect);

    private Dictionary<string, int>? _liveById;

    /// <summary>
    /// The index of the live (alive or suspect) member called <paramref name="id"/> in this view, else -1: how a
    /// node id a peer names becomes a member this node knows by gossip, or nothing.
    /// </summary>
    public int LiveIndexOf(string id)
    {
        Dictionary<string, int> live = LazyInitializer.EnsureInitialized(ref _liveById, BuildLive);
        return live.TryGetValue(id, out int index) ? index : -1;
    }

    private Dictionary<string, int> BuildLive()
    {
        var alive = new HashSet<string>(Members.Where(m => m.State is MemberState.Alive or MemberState.Suspect).Select(m => m.Id), StringComparer.Ordinal);
        var live = new Dictionary<string, int>(alive.Count, StringComparer.Ordinal);
        for (int i = 0; i < metas.Length; i++)
        {
            if (metas[i] is { } meta && alive.Contains(meta.Id)) live[meta.Id] = i;
        }
        return live;
    }
}

/// <summary>Where readers get the current snapshot.</summary>
public interface IMeshView
{
    MeshSnapshot Current { get; }
}
