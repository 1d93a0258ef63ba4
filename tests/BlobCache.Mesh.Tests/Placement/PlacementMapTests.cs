using BlobCache.Mesh.Placement;

namespace BlobCache.Mesh.Tests.Placement;

public class PlacementMapTests
{
    private static PlacementMap Map(params (string Region, int Count)[] regions)
    {
        var members = new List<(string, PlacementMember)>();
        int next = 0;
        foreach ((string region, int count) in regions)
        {
            foreach (PlacementMember m in PlacementTestData.Members(count, seed: region.Length, firstIndex: next))
                members.Add((region, m));
            next += count;
        }
        return PlacementMap.Build(members);
    }

    [Fact]
    public void Regions_are_built_separately_and_unknown_regions_are_empty()
    {
        PlacementMap map = Map(("eu", 10), ("us", 20));
        Assert.Equal(["eu", "us"], map.Regions.Order());
        Assert.Equal(10, map.ForRegion("eu").Count);
        Assert.Equal(20, map.ForRegion("us").Count);
        Assert.Same(RegionPlacement.Empty, map.ForRegion("mars"));
    }

    [Fact]
    public void Pooled_lookup_excludes_own_region_and_skips_empty_ones()
    {
        PlacementMap map = Map(("eu", 10), ("us", 20), ("ap", 0));
        string[] pool = ["eu", "us", "ap", "unknown"];
        for (int i = 0; i < 2000; i++)
        {
            ulong key = PlacementTestData.Key(31, i);
            (string? region, int member) = map.OwnerInPooledRegions(key, pool, excludeRegion: "eu");
            Assert.Equal("us", region);
            Assert.Equal(map.ForRegion("us").Owner(key), member);
        }
        Assert.Equal((null, -1), map.OwnerInPooledRegions(1, ["eu", "ap"], "eu"));
    }

    [Fact]
    public void Pooled_lookup_spreads_by_capacity_and_moves_only_a_dropped_regions_keys()
    {
        PlacementMap map = Map(("a", 10), ("b", 10), ("c", 20));
        string[] all = ["a", "b", "c"];
        string[] withoutB = ["a", "c"];
        var perRegion = new Dictionary<string, int>();
        for (int i = 0; i < 40_000; i++)
        {
            ulong key = PlacementTestData.Key(37, i);
            (string? region, int member) = map.OwnerInPooledRegions(key, all, excludeRegion: null);
            perRegion[region!] = perRegion.GetValueOrDefault(region!) + 1;
            if (region != "b") Assert.Equal((region, member), map.OwnerInPooledRegions(key, withoutB, null));
        }
        Assert.InRange(perRegion["c"] / 40_000.0, 0.47, 0.53);
        Assert.InRange(perRegion["a"] / 40_000.0, 0.22, 0.28);
    }
}
