namespace BlobCache.Mesh.Placement;

/// <summary>
/// Placement for every region: one <see cref="RegionPlacement"/> per region, plus the cross-region lookup used
/// when regions pool their caches.
/// <para>
/// Pooled lookup is two-level rendezvous: first the region, by weighted rendezvous over the pooled region names
/// (score = regionWeight / −ln(u), u from Mix(keyHash, StableHash.Of(regionName)), regionWeight = the region's
/// total member weight so load follows capacity); then the owner inside it. Both levels are per-(key, candidate)
/// scores, so a region that empties, joins the pool or is excluded moves only its own keys. The caller's own
/// region is excluded because its keys are served locally; empty and unknown regions are skipped.
/// Region weights change as members come and go, which shifts a few keys between regions; that is the price of
/// capacity-proportional pooling and is bounded by the weight change.
/// </para>
/// Immutable and thread-safe.
/// </summary>
public sealed class PlacementMap
{
    private readonly Dictionary<string, Region> _regions;

    private PlacementMap(Dictionary<string, Region> regions) => _regions = regions;

    public static PlacementMap Empty { get; } = Build([]);

    public IReadOnlyCollection<string> Regions => _regions.Keys;

    public static PlacementMap Build(IEnumerable<(string Region, PlacementMember Member)> members) =>
        Build(members, PlacementParameters.Default);

    public static PlacementMap Build(
        IEnumerable<(string Region, PlacementMember Member)> members, PlacementParameters parameters)
    {
        var byRegion = new Dictionary<string, List<PlacementMember>>(StringComparer.Ordinal);
        foreach ((string region, PlacementMember member) in members)
        {
            if (!byRegion.TryGetValue(region, out List<PlacementMember>? list)) byRegion.Add(region, list = []);
            list.Add(member);
        }
        var regions = new Dictionary<string, Region>(byRegion.Count, StringComparer.Ordinal);
        foreach ((string name, List<PlacementMember> list) in byRegion)
        {
            long weight = 0;
            foreach (PlacementMember m in list) weight += m.Weight;
            regions.Add(name, new Region(StableHash.Of(name), weight,
                RegionPlacement.Build(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(list), parameters)));
        }
        return new PlacementMap(regions);
    }

    /// <summary>The region's placement; <see cref="RegionPlacement.Empty"/> when the region is unknown.</summary>
    public RegionPlacement ForRegion(string region) =>
        _regions.TryGetValue(region, out Region? r) ? r.Placement : RegionPlacement.Empty;

    /// <summary>
    /// The owner of a key across pooled regions: the region is chosen by weighted rendezvous over
    /// <paramref name="pooledRegions"/> minus <paramref name="excludeRegion"/> (and minus empty regions), then the
    /// owner inside it. Returns (null, -1) when no pooled region has members. Allocation-free.
    /// </summary>
    public (string? Region, int Member) OwnerInPooledRegions(
        ulong keyHash, IReadOnlyList<string> pooledRegions, string? excludeRegion)
    {
        string? bestName = null;
        Region? best = null;
        double bestScore = double.NegativeInfinity;
        for (int i = 0; i < pooledRegions.Count; i++)
        {
            string name = pooledRegions[i];
            if (string.Equals(name, excludeRegion, StringComparison.Ordinal)) continue;
            if (!_regions.TryGetValue(name, out Region? region) || region.Placement.Count == 0) continue;
            double u = ((StableHash.Mix(keyHash, region.NameHash) >> 11) + 0.5) * (1.0 / (1UL << 53));
            double score = region.Weight / -Math.Log(u);
            // Equal scores: the smaller name hash wins, so the answer does not depend on list order.
            if (score > bestScore || (score == bestScore && region.NameHash < best!.NameHash))
            {
                bestScore = score;
                best = region;
                bestName = name;
            }
        }
        return best is null ? (null, -1) : (bestName, best.Placement.Owner(keyHash));
    }

    private sealed record Region(ulong NameHash, long Weight, RegionPlacement Placement);
}
