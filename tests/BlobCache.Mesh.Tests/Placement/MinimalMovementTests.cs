using BlobCache.Mesh.Placement;

namespace BlobCache.Mesh.Tests.Placement;

/// <summary>Exact minimal movement: the properties that make placement rendezvous hashing, checked key by key.</summary>
public class MinimalMovementTests
{
    private const int Keys = 100_000;

    [Theory]
    [InlineData(50, 1)]
    [InlineData(333, 2)]
    [InlineData(2000, 3)]
    public void Removing_a_member_moves_only_its_keys(int memberCount, int seed)
    {
        PlacementMember[] members = PlacementTestData.Members(memberCount, seed, mixedWeights: true);
        PlacementMember gone = members[new Random(seed).Next(memberCount)];
        RegionPlacement before = RegionPlacement.Build(members);
        RegionPlacement after = RegionPlacement.Build(members.Where(m => m != gone).ToArray());
        int moved = 0;
        for (int i = 0; i < Keys; i++)
        {
            ulong key = PlacementTestData.Key(seed, i);
            int old = before.Owner(key);
            if (old == after.Owner(key)) continue;
            Assert.Equal(gone.Member, old);
            moved++;
        }
        Assert.True(moved > 0);
    }

    [Theory]
    [InlineData(50, 4)]
    [InlineData(333, 5)]
    [InlineData(2000, 6)]
    public void Adding_a_member_moves_only_the_keys_it_now_owns(int memberCount, int seed)
    {
        PlacementMember[] members = PlacementTestData.Members(memberCount, seed, mixedWeights: true);
        PlacementMember joiner = PlacementTestData.Members(1, seed + 100, firstIndex: memberCount)[0] with { Weight = 200 };
        RegionPlacement before = RegionPlacement.Build(members);
        RegionPlacement after = RegionPlacement.Build([.. members, joiner]);
        int moved = 0;
        for (int i = 0; i < Keys; i++)
        {
            ulong key = PlacementTestData.Key(seed, i);
            int now = after.Owner(key);
            if (before.Owner(key) == now) continue;
            Assert.Equal(joiner.Member, now);
            moved++;
        }
        Assert.True(moved > 0);
    }

    [Theory]
    [InlineData(60, 7)]
    [InlineData(1000, 8)]
    public void Removing_a_member_changes_top_k_by_exactly_that_member(int memberCount, int seed)
    {
        const int K = 3;
        PlacementMember[] members = PlacementTestData.Members(memberCount, seed, mixedWeights: true);
        PlacementMember gone = members[new Random(seed).Next(memberCount)];
        RegionPlacement before = RegionPlacement.Build(members);
        RegionPlacement after = RegionPlacement.Build(members.Where(m => m != gone).ToArray());
        Span<int> old = stackalloc int[K], now = stackalloc int[K];
        Span<int> expectedPrefix = stackalloc int[K];
        for (int i = 0; i < Keys / 2; i++)
        {
            ulong key = PlacementTestData.Key(seed, i);
            before.Owners(key, old);
            after.Owners(key, now);
            int position = old.IndexOf(gone.Member);
            if (position < 0)
            {
                Assert.True(old.SequenceEqual(now));
                continue;
            }
            // The old list without the removed member, then one newcomer at the end.
            int n = 0;
            foreach (int m in old) if (m != gone.Member) expectedPrefix[n++] = m;
            Assert.True(now[..(K - 1)].SequenceEqual(expectedPrefix[..(K - 1)]));
            Assert.DoesNotContain(now[K - 1], old.ToArray());
        }
    }
}
