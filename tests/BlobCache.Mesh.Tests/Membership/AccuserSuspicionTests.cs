using BlobCache.Mesh;
using BlobCache.Mesh.Membership;
using BlobCache.Protocol.Gossip;
using BlobCache.Sim.Engine;

namespace BlobCache.Mesh.Tests.Membership;

/// <summary>Suspicions kept by their accusers (<see cref="SuspicionSpread.Accuser"/>): only deaths and refutations spread.</summary>
public class AccuserSuspicionTests
{
    private static readonly MeshConfig Accusers = Clusters.Fast with { Suspicions = SuspicionSpread.Accuser };

    [Fact]
    public void A_crash_is_suspected_only_by_its_accusers_yet_every_member_learns_of_the_death()
    {
        const int count = 50;
        SimCluster cluster = Clusters.Converged(count, seed: 2, Accusers);
        int crashed = cluster.Nodes[7].Swim.Self;
        long crashedAt = cluster.Now;
        cluster.Crash(7);

        TimeSpan timeout = Micros.ToTimeSpan(Accusers.SuspicionTimeouts(count).Min);
        Assert.Equal(timeout, Micros.ToTimeSpan(Accusers.SuspicionTimeouts(count).Max)); // no confirmations to wait for
        Assert.True(cluster.RunUntil(() => cluster.EveryoneSeesDown(7), timeout + TimeSpan.FromSeconds(10)),
            "not every member marked the crashed node dead");
        Assert.True(Micros.ToTimeSpan(cluster.Now - crashedAt) >= timeout, "declared dead before an accuser's timeout could run out");

        // Gossiped, every member holds the suspicion; here only those whose own probes failed (and their
        // anti-entropy partners, which take it over with the state) do.
        Assert.InRange(Suspecting(cluster, crashed), 1, count / 2);
        SimCluster gossiped = Clusters.Converged(count, seed: 2);
        gossiped.Crash(7);
        Assert.True(gossiped.RunUntil(() => gossiped.EveryoneSeesDown(7), Clusters.MaxSuspicion(gossiped.Config, count) + TimeSpan.FromSeconds(10)));
        Assert.Equal(count - 1, Suspecting(gossiped, gossiped.Nodes[7].Swim.Self));
        Assert.Equal(0, Clusters.CountEvents(cluster, MemberEventKind.Dead, m => m != crashed));
        Assert.All(cluster.Running, n => Assert.Equal(MemberState.Dead, n.Swim.StateOf(crashed)));
    }

    private static int Suspecting(SimCluster cluster, int member) =>
        cluster.EventLog.Where(e => e.Event.Kind == MemberEventKind.Suspect && e.Event.Member == member).Select(e => e.Node).Distinct().Count();

    [Fact]
    public void A_stalled_member_hears_of_the_suspicion_from_its_accuser_and_refutes_it_in_time()
    {
        SimCluster cluster = Clusters.Converged(30, seed: 8, Accusers);
        SimNode slow = cluster.Nodes[4];
        uint before = slow.Swim.Incarnation;
        // Stall for 1.5 s out of every 2.5 s for a minute: probes of it fail and their accusers suspect it.
        for (int round = 0; round < 24; round++)
        {
            cluster.Stall(4, cluster.Now + Micros.From(TimeSpan.FromSeconds(1.5)));
            cluster.RunFor(TimeSpan.FromSeconds(2.5));
        }

        Assert.True(Clusters.CountEvents(cluster, MemberEventKind.Suspect, m => m == slow.Swim.Self) > 0, "nobody suspected the stalling node");
        Assert.True(slow.Swim.Incarnation > before, "the stalling node never refuted a suspicion");
        Assert.True(Clusters.CountEvents(cluster, MemberEventKind.Dead) == 0, Clusters.Describe(cluster, MemberEventKind.Dead));
        Assert.True(cluster.RunUntil(cluster.IsConverged, TimeSpan.FromSeconds(30)));
    }

    [Theory]
    [InlineData(7ul)]
    [InlineData(17ul)]
    [InlineData(27ul)]
    [InlineData(37ul)]
    public void Ten_percent_packet_loss_causes_no_false_death(ulong seed) =>
        Clusters.AssertLossCausesNoFalseDeath(Clusters.Converged(50, seed, Accusers));
}
