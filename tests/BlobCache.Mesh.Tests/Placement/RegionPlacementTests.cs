using BlobCache.Mesh.Placement;

namespace BlobCache.Mesh.Tests.Placement;

public class RegionPlacementTests
{
    [Fact]
    public void Empty_region_has_no_owner()
    {
        Assert.Equal(-1, RegionPlacement.Empty.Owner(123));
        Assert.Equal(0, RegionPlacement.Empty.Owners(123, new int[3]));
        Assert.Equal(0, RegionPlacement.Empty.Count);
        Assert.Equal(-1, RegionPlacement.Build([new PlacementMember(4, 77, 0)]).Owner(123));
    }

    [Fact]
    public void Duplicate_member_index_is_rejected()
    {
        Assert.Throws<ArgumentException>(() => RegionPlacement.Build([new(1, 10, 100), new(1, 20, 100)]));
    }

    [Fact]
    public void Single_member_owns_everything()
    {
        RegionPlacement placement = RegionPlacement.Build([new PlacementMember(9, StableHash.Of("only"), 1)]);
        var owners = new int[3];
        for (int i = 0; i < 1000; i++)
        {
            Assert.Equal(9, placement.Owner(PlacementTestData.Key(1, i)));
            Assert.Equal(1, placement.Owners(PlacementTestData.Key(1, i), owners));
            Assert.Equal(9, owners[0]);
        }
    }

    [Fact]
    public void Build_does_not_depend_on_input_order()
    {
        PlacementMember[] members = PlacementTestData.Members(500, seed: 3, mixedWeights: true);
        RegionPlacement a = RegionPlacement.Build(members);
        RegionPlacement b = RegionPlacement.Build(PlacementTestData.Shuffled(members, 7));
        Span<int> topA = stackalloc int[4], topB = stackalloc int[4];
        for (int i = 0; i < 20_000; i++)
        {
            ulong key = PlacementTestData.Key(3, i);
            Assert.Equal(a.Owner(key), b.Owner(key));
            a.Owners(key, topA);
            b.Owners(key, topB);
            Assert.True(topA.SequenceEqual(topB));
        }
    }

    [Fact]
    public void Weight_zero_members_own_nothing_and_are_not_contained()
    {
        PlacementMember[] members = PlacementTestData.Members(100, seed: 5);
        for (int i = 0; i < members.Length; i += 3) members[i] = members[i] with { Weight = 0 };
        RegionPlacement placement = RegionPlacement.Build(members);
        var zero = members.Where(m => m.Weight == 0).Select(m => m.Member).ToHashSet();
        Assert.Equal(members.Length - zero.Count, placement.Count);
        foreach (int member in zero) Assert.False(placement.Contains(member));
        Assert.True(placement.Contains(members[1].Member));
        Assert.False(placement.Contains(-5));
        var owners = new int[placement.Count];
        for (int i = 0; i < 20_000; i++)
        {
            Assert.DoesNotContain(placement.Owner(PlacementTestData.Key(5, i)), zero);
            if (i % 100 == 0)
            {
                Assert.Equal(placement.Count, placement.Owners(PlacementTestData.Key(5, i), owners));
                Assert.Empty(owners.Intersect(zero));
            }
        }
    }

    [Theory]
    [InlineData(1, 3)]
    [InlineData(2, 2)]
    [InlineData(7, 7)]
    [InlineData(40, 5)]
    [InlineData(40, 40)]
    public void Top_k_matches_brute_force_ranking(int memberCount, int k)
    {
        PlacementMember[] members = PlacementTestData.Members(memberCount, seed: memberCount, mixedWeights: true);
        // Few points and probes make near-ties and wrap-around common; the defaults are checked too.
        foreach (PlacementParameters parameters in new[] { PlacementParameters.Default, new PlacementParameters(3, 2) })
        {
            RegionPlacement placement = RegionPlacement.Build(members, parameters);
            var top = new int[k];
            for (int i = 0; i < 300; i++)
            {
                ulong key = PlacementTestData.Key(memberCount, i);
                int[] expected = ReferenceScorer.Ranking(members, key, parameters);
                int written = placement.Owners(key, top);
                Assert.Equal(Math.Min(k, expected.Length), written);
                Assert.Equal(expected.Take(written), top.Take(written));
                Assert.Equal(expected[0], placement.Owner(key));
            }
        }
    }

    [Fact]
    public void Top_k_is_distinct_and_starts_with_the_owner()
    {
        RegionPlacement placement = RegionPlacement.Build(PlacementTestData.Members(1000, seed: 11));
        var top = new int[8];
        for (int i = 0; i < 20_000; i++)
        {
            ulong key = PlacementTestData.Key(11, i);
            Assert.Equal(8, placement.Owners(key, top));
            Assert.Equal(placement.Owner(key), top[0]);
            Assert.Equal(8, top.Distinct().Count());
        }
    }

    [Fact]
    public void Naive_rendezvous_is_exact_hrw_and_skips_weight_zero()
    {
        PlacementMember[] members = PlacementTestData.Members(50, seed: 13, mixedWeights: true);
        members[0] = members[0] with { Weight = 0 };
        for (int i = 0; i < 2000; i++)
        {
            ulong key = PlacementTestData.Key(13, i);
            int owner = NaiveRendezvous.Owner(members, key);
            Assert.NotEqual(members[0].Member, owner);
            Assert.Equal(owner, NaiveRendezvous.Owner(PlacementTestData.Shuffled(members, i), key));
        }
        Assert.Equal(-1, NaiveRendezvous.Owner([], 1));
    }
}
