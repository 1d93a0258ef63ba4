using BlobCache.Mesh.Membership;
using BlobCache.Mesh.Placement;
using BlobCache.Sim.Engine;

namespace BlobCache.Mesh.Tests.Membership;

public class ViewPlacementTests
{
    [Fact]
    public void Converged_views_agree_on_every_owner_and_a_crash_moves_only_the_dead_members_keys()
    {
        var cluster = new SimCluster(21, Clusters.Fast);
        cluster.Bootstrap(90, regions: 3);
        cluster.RunFor(TimeSpan.FromSeconds(5));
        var keys = Enumerable.Range(0, 5000).Select(i => StableHash.ChunkKey("data", $"shard-{i % 50}", i)).ToArray();

        int[] before = OwnersSeenByAll(cluster, "region-1", keys);
        Assert.Equal(30, before.Distinct().Count());

        int victim = Enumerable.Range(0, 90).First(n => cluster.Nodes[n].Info.Region == 1 && before.Contains(cluster.Nodes[n].Swim.Self));
        cluster.Crash(victim);
        Assert.True(cluster.RunUntil(() => cluster.EveryoneSeesDown(victim), TimeSpan.FromSeconds(120)));

        int[] after = OwnersSeenByAll(cluster, "region-1", keys);
        int dead = cluster.Nodes[victim].Swim.Self;
        for (int k = 0; k < keys.Length; k++)
        {
            if (before[k] == dead) Assert.NotEqual(dead, after[k]);
            else Assert.Equal(before[k], after[k]);
        }
    }

    /// <summary>Owner of each key in one region, asserting that every running node's view gives the same answer.</summary>
    private static int[] OwnersSeenByAll(SimCluster cluster, string region, ulong[] keys)
    {
        int[]? agreed = null;
        foreach (SimNode node in cluster.Running)
        {
            RegionPlacement placement = ViewPlacement.Build(node.Swim.View, node.Swim.Directory).ForRegion(region);
            int[] owners = keys.Select(placement.Owner).ToArray();
            if (agreed is null) agreed = owners;
            else Assert.Equal(agreed, owners);
        }
        return agreed!;
    }
}
