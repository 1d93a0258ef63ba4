using BlobCache.Mesh;
using BlobCache.Mesh.Membership;
using BlobCache.Protocol.Gossip;
using BlobCache.Sim.Engine;

namespace BlobCache.Mesh.Tests.Membership;

public class ClusterTests
{
    [Theory]
    [InlineData(3)]
    [InlineData(50)]
    [InlineData(200)]
    public void Nodes_joining_through_one_seed_converge_to_the_same_exact_view(int count)
    {
        SimCluster cluster = Clusters.Converged(count, seed: 1);

        foreach (SimNode node in cluster.Nodes)
        {
            Assert.True(node.Swim.Joined);
            Assert.Equal(count, node.Swim.View.AliveCount);
            Assert.Equal(0, node.Swim.HealthScore);
        }
        Assert.Equal(0, Clusters.CountEvents(cluster, MemberEventKind.Dead));
    }

    /// <summary>
    /// A small fleet starting at once (the bench's 32 processes, a job's first pods): each joiner gets the seed's full
    /// view of the moment and does not re-gossip it, so members that joined in the same instant learn of each other
    /// only by the seed's few alive rumours. Without an early exchange a missed one waits for the 30 s push-pull.
    /// </summary>
    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    [InlineData(4UL)]
    [InlineData(5UL)]
    public void Thirty_two_nodes_joining_one_seed_at_once_hold_exact_views_within_five_seconds_under_LAN_timings(ulong seed)
    {
        var cluster = new SimCluster(seed, MeshConfig.Default);
        cluster.AddNode();
        for (int i = 1; i < 32; i++) cluster.AddNode(0, i % 3, [0]);
        Assert.True(cluster.RunUntil(cluster.IsConverged, TimeSpan.FromSeconds(5)),
            $"views still differ 5 s after the start: {string.Join(", ", cluster.Nodes.Select(n => n.Swim.View.AliveCount).Where(c => c != 32).Select(c => $"{c} live"))}");
    }

    [Fact]
    public void A_crash_is_detected_by_every_member_within_the_suspicion_bound()
    {
        SimCluster cluster = Clusters.Converged(50, seed: 2);
        long crashedAt = cluster.Now;
        cluster.Crash(7);

        TimeSpan bound = Clusters.MaxSuspicion(cluster.Config, 50) + TimeSpan.FromSeconds(10);
        Assert.True(cluster.RunUntil(() => cluster.EveryoneSeesDown(7), bound), "not every member marked the crashed node dead");
        TimeSpan took = Micros.ToTimeSpan(cluster.Now - crashedAt);
        Assert.True(took > Clusters.MaxSuspicion(cluster.Config, 50) / cluster.Config.SuspicionMaxTimeoutMult / 2,
            $"detected after {took}: faster than the minimum suspicion allows");

        int crashed = cluster.Nodes[7].Swim.Self;
        Assert.Equal(0, Clusters.CountEvents(cluster, MemberEventKind.Dead, m => m != crashed));
        Assert.All(cluster.Running, n => Assert.Equal(MemberState.Dead, n.Swim.StateOf(crashed)));
    }

    [Fact]
    public void Several_crashes_at_once_are_all_detected_and_the_rest_reconverge()
    {
        SimCluster cluster = Clusters.Converged(100, seed: 3);
        int[] victims = [3, 17, 42, 64, 99];
        foreach (int v in victims) cluster.Crash(v);

        Assert.True(cluster.RunUntil(() => victims.All(cluster.EveryoneSeesDown), TimeSpan.FromSeconds(120)));
        Assert.True(cluster.RunUntil(cluster.IsConverged, TimeSpan.FromSeconds(30)));
        var victimMembers = victims.Select(v => cluster.Nodes[v].Swim.Self).ToHashSet();
        Assert.Equal(0, Clusters.CountEvents(cluster, MemberEventKind.Dead, m => !victimMembers.Contains(m)));
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void Members_that_heard_a_suspicion_before_probing_the_crashed_suspect_confirm_it_with_their_own_failed_probes(ulong seed)
    {
        // No push-pull within the run (and the joins' settle exchanges over): a state exchange showing the member suspect
        // confirms too, and this is about probes.
        SimCluster cluster = Clusters.Converged(32, seed, MeshConfig.Default with { PushPullInterval = TimeSpan.FromMinutes(10) });
        cluster.RunFor(TimeSpan.FromSeconds(20));
        SimNode crashed = cluster.Nodes[31];
        long crashedAt = cluster.Now;
        cluster.Crash(31);
        // Every member hears one accuser at once, before any probe of its own has failed: confirmations can then only
        // come from probes of a member already suspect.
        var rumour = new Gossip
        {
            SourceId = cluster.Nodes[0].Swim.Id,
            Updates = [new MemberUpdate(UpdateKind.Suspect, crashed.Swim.Id, crashed.Swim.Incarnation, cluster.Nodes[0].Swim.Id, null)],
        };
        for (int i = 0; i < 31; i++) Assert.True(cluster.InjectPacket(i, GossipCodec.Encode(rumour)));

        (long min, long max) = cluster.Config.SuspicionTimeouts(32);
        Assert.True(cluster.RunUntil(() => cluster.EveryoneSeesDown(31), TimeSpan.FromSeconds(60)), "not every member marked the crashed node dead");
        TimeSpan took = Micros.ToTimeSpan(cluster.Now - crashedAt);
        // Unconfirmed, the suspicion runs its longest timeout (36 s here); two confirmations bring it to the shortest (6 s).
        Assert.True(took < Micros.ToTimeSpan(min) + TimeSpan.FromSeconds(4), $"dead everywhere after {took}, the shortest timeout is {Micros.ToTimeSpan(min)}, the longest {Micros.ToTimeSpan(max)}");
    }

    [Fact]
    public void A_false_suspicion_is_refuted_with_a_higher_incarnation()
    {
        SimCluster cluster = Clusters.Converged(20, seed: 4);
        SimNode accused = cluster.Nodes[5];
        uint before = accused.Swim.Incarnation;

        // Node 9 hears a rumour that node 5 is suspect, as if a lossy link had failed one probe.
        var rumour = new Gossip
        {
            SourceId = cluster.Nodes[3].Swim.Id,
            Updates = [new MemberUpdate(UpdateKind.Suspect, accused.Swim.Id, before, cluster.Nodes[3].Swim.Id, null)],
        };
        Assert.True(cluster.InjectPacket(9, GossipCodec.Encode(rumour)));
        Assert.Equal(MemberState.Suspect, cluster.Nodes[9].Swim.StateOf(accused.Swim.Self));

        Assert.True(cluster.RunUntil(() => accused.Swim.Incarnation > before && cluster.IsConverged(), TimeSpan.FromSeconds(30)));
        Assert.Equal(0, Clusters.CountEvents(cluster, MemberEventKind.Dead));
        Assert.True(Clusters.CountEvents(cluster, MemberEventKind.Recovered, m => m == accused.Swim.Self) > 0);
        Assert.All(cluster.Running, n => Assert.Equal(accused.Swim.Incarnation, n.Swim.View[accused.Swim.Self].Incarnation));
    }

    [Fact]
    public void A_node_restarted_at_a_new_address_outbids_its_old_process_before_anyone_declares_it_dead()
    {
        SimCluster cluster = Clusters.Converged(30, seed: 6);
        SimNode old = cluster.Nodes[5];
        int member = old.Swim.Self;
        cluster.Crash(5);
        // The same id comes back at once as a new process at another address, with incarnation 0 again: the seed
        // tells it the mesh holds "alive at 0" with the old address, which it must outbid.
        int restarted = cluster.AddNode(0, 1, [0], id: old.Swim.Id);
        string address = cluster.Nodes[restarted].Swim.Meta.GossipAddress;
        // At once, from the seed's answer to its join (a round trip), not seconds later from a suspicion that
        // happened to reach it.
        Assert.True(cluster.RunUntil(() => cluster.Nodes[restarted].Swim.Incarnation > 0, TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(1)),
            "the restarted node did not outbid its old process's record on joining");

        Assert.True(cluster.RunUntil(() => cluster.Running.All(n => n.Swim.MetaOf(member)?.GossipAddress == address && n.Swim.StateOf(member) == MemberState.Alive),
            TimeSpan.FromSeconds(20)), "the mesh never learned the restarted node's address");
        Assert.True(cluster.Nodes[restarted].Swim.Incarnation > 0);
        cluster.RunFor(TimeSpan.FromSeconds(60));
        Assert.Equal(0, Clusters.CountEvents(cluster, MemberEventKind.Dead, m => m == member));
        Assert.True(cluster.IsConverged());
    }

    [Fact]
    public void A_member_that_joins_mid_round_is_probed_in_that_round_so_its_crash_is_detected_in_time()
    {
        // 60 nodes start together, so every one begins a probe round of 64 slots within the first second; the
        // newcomer takes index 60.
        var cluster = new SimCluster(7, Clusters.Fast);
        cluster.Bootstrap(60);
        cluster.RunFor(TimeSpan.FromSeconds(2));
        int joiner = cluster.AddNode(0, 2, [0]);
        Assert.True(cluster.RunUntil(cluster.IsConverged, TimeSpan.FromSeconds(20)));
        long crashedAt = cluster.Now;
        cluster.Crash(joiner);

        // A round lasts 64 protocol periods: had the members skipped the newcomer until their next round, nobody
        // would probe it for about a minute and detection would take longer than the bound.
        TimeSpan bound = Clusters.MaxSuspicion(cluster.Config, 61) + TimeSpan.FromSeconds(10);
        Assert.True(cluster.RunUntil(() => cluster.EveryoneSeesDown(joiner), bound),
            $"the crashed newcomer was not seen down by everyone within {bound}");
        Assert.True(Micros.ToTimeSpan(cluster.Now - crashedAt) <= bound);
    }

    [Fact]
    public void A_graceful_leave_is_seen_as_left_not_dead_by_everyone()
    {
        SimCluster cluster = Clusters.Converged(30, seed: 5);
        int leaver = cluster.Nodes[11].Swim.Self;
        cluster.Leave(11);

        Assert.True(cluster.RunUntil(() => cluster.Nodes[11].Gone, TimeSpan.FromSeconds(5)), "the leaver never got its leave rumour out");
        Assert.True(cluster.RunUntil(() => cluster.Running.All(n => n.Swim.StateOf(leaver) == MemberState.Left), TimeSpan.FromSeconds(10)));
        Assert.Equal(0, Clusters.CountEvents(cluster, MemberEventKind.Dead));
        Assert.True(cluster.RunUntil(cluster.IsConverged, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void A_partition_splits_the_views_and_healing_merges_them_again()
    {
        SimCluster cluster = Clusters.Converged(24, seed: 6);
        int[] minority = Enumerable.Range(16, 8).ToArray();
        cluster.Network.Partition(minority);

        // Each side declares the other dead.
        bool split = cluster.RunUntil(() => cluster.Nodes.Take(16).All(n => minority.All(m => n.Swim.StateOf(cluster.Nodes[m].Swim.Self) == MemberState.Dead))
                                      && minority.All(m => cluster.Nodes[m].Swim.View.AliveCount == minority.Length), TimeSpan.FromSeconds(120));
        Assert.True(split, "the two sides did not each declare the other dead");

        cluster.Network.Heal();
        Assert.True(cluster.RunUntil(cluster.IsConverged, TimeSpan.FromSeconds(120)), "the views did not merge after the partition healed");
    }

    [Theory]
    [InlineData(7ul)]
    [InlineData(17ul)]
    [InlineData(27ul)]
    public void Ten_percent_packet_loss_causes_no_false_death_with_lifeguard(ulong seed) =>
        Clusters.AssertLossCausesNoFalseDeath(Clusters.Converged(50, seed));

    [Fact]
    public void A_stalling_node_under_lifeguard_is_not_declared_dead_and_accuses_nobody()
    {
        SimCluster cluster = Clusters.Converged(30, seed: 8);
        SimNode slow = cluster.Nodes[4];
        // Stall for 1.5 s out of every 2.5 s for a minute: the probe timeouts of a stalled node expire en masse.
        int worstHealth = 0;
        for (int round = 0; round < 24; round++)
        {
            cluster.Stall(4, cluster.Now + Micros.From(TimeSpan.FromSeconds(1.5)));
            for (int step = 0; step < 25; step++)
            {
                cluster.RunFor(TimeSpan.FromMilliseconds(100));
                worstHealth = Math.Max(worstHealth, slow.Swim.HealthScore);
            }
        }

        Assert.True(Clusters.CountEvents(cluster, MemberEventKind.Dead) == 0, Clusters.Describe(cluster, MemberEventKind.Dead));
        Assert.True(worstHealth > 0, "Lifeguard never noticed that the stalling node was the slow one");
        Assert.True(cluster.RunUntil(cluster.IsConverged, TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public void Malformed_or_meaningless_packets_change_nothing()
    {
        SimCluster cluster = Clusters.Converged(10, seed: 9);
        SimNode target = cluster.Nodes[2];
        int version = target.Swim.ViewVersion;
        var random = new DeterministicRandom(99);

        byte[] valid = GossipCodec.Encode(new Gossip
        {
            SourceId = cluster.Nodes[1].Swim.Id,
            Updates = [new MemberUpdate(UpdateKind.Suspect, cluster.Nodes[3].Swim.Id, 0, cluster.Nodes[1].Swim.Id, null)],
        });
        int rejected = 0;
        for (int i = 0; i < 2000; i++)
        {
            byte[] junk = new byte[1 + random.Next(200)];
            for (int j = 0; j < junk.Length; j++) junk[j] = (byte)random.Next(256);
            if (i % 2 == 0 && junk.Length > 2) { junk[0] = GossipCodec.Magic; junk[1] = GossipCodec.FormatVersion; }
            if (!cluster.InjectPacket(2, junk)) rejected++;
            if (!cluster.InjectPacket(2, valid.AsMemory(0, random.Next(valid.Length)))) rejected++;
        }
        Assert.Equal(4000, rejected);

        // Well-formed but meaningless: rumours about members nobody knows, and stale incarnations.
        var meaningless = new Gossip
        {
            SourceId = "stranger",
            Updates =
            [
                new MemberUpdate(UpdateKind.Suspect, "nobody", 5, "stranger", null),
                new MemberUpdate(UpdateKind.Dead, "nobody-else", 5, "stranger", null),
            ],
        };
        Assert.True(cluster.InjectPacket(2, GossipCodec.Encode(meaningless)));
        Assert.Equal(version, target.Swim.ViewVersion);
    }

    [Fact]
    public void Two_runs_with_one_seed_give_identical_event_logs_and_another_seed_does_not()
    {
        static (ulong Digest, List<(int, MemberEvent)> Log) Run(ulong seed)
        {
            var network = new NetworkModel { Loss = 0.02 };
            SimCluster cluster = Clusters.Converged(40, seed, network: network);
            cluster.Crash(13);
            cluster.Leave(21);
            cluster.RunFor(TimeSpan.FromSeconds(60));
            return (cluster.Digest.Value, cluster.EventLog.ToList());
        }

        var a = Run(11);
        var b = Run(11);
        var c = Run(12);
        Assert.Equal(a.Log, b.Log);
        Assert.Equal(a.Digest, b.Digest);
        Assert.NotEqual(a.Digest, c.Digest);
    }
}
