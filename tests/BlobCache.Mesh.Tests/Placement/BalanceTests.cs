using BlobCache.Mesh.Placement;

namespace BlobCache.Mesh.Tests.Placement;

public class BalanceTests
{
    [Fact]
    public void Weighted_shares_follow_weights()
    {
        const int Keys = 2_000_000;
        PlacementMember[] members = PlacementTestData.Members(200, seed: 21, mixedWeights: true);
        RegionPlacement placement = RegionPlacement.Build(members);
        var counts = new Dictionary<int, int>();
        for (int i = 0; i < Keys; i++)
        {
            int owner = placement.Owner(PlacementTestData.Key(21, i));
            counts[owner] = counts.GetValueOrDefault(owner) + 1;
        }
        double totalWeight = members.Sum(m => (double)m.Weight);
        double meanAbsRelativeError = members.Average(m =>
        {
            double expected = Keys * m.Weight / totalWeight;
            return Math.Abs(counts.GetValueOrDefault(m.Member) - expected) / expected;
        });
        Assert.True(meanAbsRelativeError < 0.05, $"mean |share error| = {meanAbsRelativeError:P2}");
    }

    // Our max/mean against uniform random assignment of the same number of keys to the same nodes. The ring adds
    // a little share noise (≈ 1/√(2·probes·points)), so allow a small margin over random's figure.
    [Fact]
    public void Balance_is_close_to_uniform_random_assignment()
    {
        const int Nodes = 1000, Keys = 1_000_000;
        RegionPlacement placement = RegionPlacement.Build(PlacementTestData.Members(Nodes, seed: 23));
        var ours = new int[Nodes];
        var random = new int[Nodes];
        for (int i = 0; i < Keys; i++)
        {
            ulong key = PlacementTestData.Key(23, i);
            ours[placement.Owner(key)]++;
            random[(int)Math.BigMul(StableHash.Mix(key, 0xD1CE), (ulong)Nodes, out _)]++;
        }
        double mean = (double)Keys / Nodes;
        double oursMax = ours.Max() / mean, randomMax = random.Max() / mean;
        Assert.True(oursMax <= randomMax + 0.05, $"ours max/mean {oursMax:F3}, random {randomMax:F3}");
        Assert.True(StdDev(ours) <= StdDev(random) * 1.15, $"sd ours {StdDev(ours):F1}, random {StdDev(random):F1}");
    }

    private static double StdDev(int[] counts)
    {
        double mean = counts.Average();
        return Math.Sqrt(counts.Average(c => (c - mean) * (c - mean)));
    }
}
