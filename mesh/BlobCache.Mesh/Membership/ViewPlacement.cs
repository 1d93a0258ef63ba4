using BlobCache.Mesh.Placement;
using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

/// <summary>Turns a membership view into placement: the members that take keys, grouped by region.</summary>
public static class ViewPlacement
{
    /// <summary>
    /// Every member of <paramref name="view"/> that is alive or suspect, in its region, with its weight. Suspects keep
    /// their keys: moving keys on every suspicion would churn caches for rumours that are usually refuted.
    /// </summary>
    public static PlacementMap Build(MemberTable view, MemberDirectory directory)
    {
        var members = new List<(string Region, PlacementMember Member)>(view.LiveCount);
        int count = directory.Count;
        for (int i = 0; i < count; i++)
        {
            MemberEntry e = view[i];
            if (!e.IsLive || e.Meta == 0) continue;
            MemberMeta meta = directory.MetaOf(e.Meta);
            if (meta.Weight == 0) continue;
            members.Add((meta.Region, new PlacementMember(i, directory.IdHashOf(i), meta.Weight)));
        }
        return PlacementMap.Build(members);
    }
}
