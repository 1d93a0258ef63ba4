using BlobCache.Mesh;
using BlobCache.Mesh.Membership;
using BlobCache.Protocol.Gossip;
using BlobCache.Sim.Engine;

namespace BlobCache.Mesh.Tests.Membership;

/// <summary>What goes by datagram and what by stream, delta push-pull, and the simulator holding the mesh to both.</summary>
public class StateTransferTests
{
    private static MemberRecord Member(string id) => new(new MemberMeta(id, "10.0.0.1:7946", "", "", "r", "z", 100, 1), 1, MemberState.Alive);

    [Fact]
    public void A_message_within_the_budget_is_a_datagram_state_beyond_it_a_stream_and_anything_else_beyond_it_oversize()
    {
        var small = new PushPull { SourceId = "a", SourceAddress = "a:1", Members = [Member("b")] };
        Assert.Equal(GossipChannel.Datagram, GossipChannels.Choose(small, 1400, out int smallBytes));
        Assert.Equal(GossipCodec.Encode(small).Length, smallBytes);

        var big = new PushPull { SourceId = "a", SourceAddress = "a:1", Members = Enumerable.Range(0, 40).Select(i => Member($"member-{i}")).ToArray() };
        Assert.Equal(GossipChannel.Stream, GossipChannels.Choose(big, 1400, out int bigBytes));
        Assert.Equal(GossipCodec.Encode(big).Length, bigBytes);

        string longId = new('x', 255);
        var ping = new Ping { SourceId = longId, Seq = 1, TargetId = longId, SourceAddress = "a:1" };
        Assert.Equal(GossipChannel.Datagram, GossipChannels.Choose(ping, 1400, out _));
        Assert.Equal(GossipChannel.Oversize, GossipChannels.Choose(ping, 512, out int pingBytes));
        Assert.Equal(GossipCodec.Encode(ping).Length, pingBytes);
    }

    [Fact]
    public void A_node_joining_a_5000_member_mesh_gets_a_sample_from_the_seed_and_the_whole_view_by_stream_from_another_member()
    {
        var cluster = new SimCluster(21);
        cluster.Bootstrap(5_000);
        cluster.RunFor(TimeSpan.FromSeconds(1));
        int joiner = cluster.AddNode(0, 1, [0]);
        var toJoiner = new List<PushPull>();
        cluster.OnDeliver = (node, m) =>
        {
            if (node == joiner && m is PushPull pp) toJoiner.Add(pp);
        };

        Assert.True(cluster.RunUntil(() => cluster.Nodes[joiner].Swim.View.AliveCount == 5_001, TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(10)),
            $"the joiner sees {cluster.Nodes[joiner].Swim.View.AliveCount} members");
        Assert.True(cluster.Nodes[joiner].Swim.Joined);
        Assert.InRange(cluster.LargestDatagram, 1, cluster.Config.MaxPacketBytes);
        Assert.True(cluster.LargestStream > cluster.Config.MaxPacketBytes, $"largest stream {cluster.LargestStream} bytes");
        Assert.Equal(0, cluster.OversizeRefused);

        // The seed's answer: a sample, in one datagram; the view: from another member, by stream.
        PushPull sample = toJoiner[0];
        Assert.Equal(cluster.Nodes[0].Swim.Id, sample.SourceId);
        Assert.Empty(sample.Digest);
        Assert.InRange(GossipCodec.Measure(sample), 1, cluster.Config.MaxPacketBytes);
        PushPull view = Assert.Single(toJoiner, p => p.Members.Count > 5_000);
        Assert.NotEqual(cluster.Nodes[0].Swim.Id, view.SourceId);
        // What it pulled, the mesh knew: the joiner gossips none of it.
        Assert.InRange(cluster.Nodes[joiner].Swim.PendingBroadcasts, 0, 2);
    }

    [Fact]
    public void A_joiner_whose_chosen_member_never_answers_asks_another_for_the_view()
    {
        // Most of the mesh has just crashed, unnoticed: the seed's sample names mostly dead members.
        var cluster = new SimCluster(26, MeshConfig.Default with { JoinSampleMembers = 6 });
        cluster.Bootstrap(100);
        for (int i = 10; i < 100; i++) cluster.Crash(i);
        int joiner = cluster.AddNode(0, 0, [0]);
        // Without asking again, the next exchange would come a whole push-pull interval (30 s) later. A sample holds
        // at most 8 members; the view, all but those its giver already suspects (a joiner ignores a suspicion of a
        // member it has never heard of).
        Assert.True(cluster.RunUntil(() => cluster.Nodes[joiner].Swim.View.KnownCount >= 90, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100)),
            $"the joiner knows {cluster.Nodes[joiner].Swim.View.KnownCount} members");
    }

    [Fact]
    public void A_state_transfer_takes_a_handshake_plus_its_size_over_the_bandwidth()
    {
        var network = new NetworkModel { Jitter = 0, StreamBytesPerSecond = 100_000 };
        // The seed answers with its whole view (no sample), so the join's answer is the one stream.
        var cluster = new SimCluster(22, MeshConfig.Default with { JoinSampleMembers = 10_000 }, network);
        cluster.Bootstrap(2_000);
        long start = cluster.Now;
        int joiner = cluster.AddNode(0, 0, [0]); // the seed's zone: every hop costs SameZoneMicros
        long? joinedAt = null;
        cluster.OnEvent = (node, e) =>
        {
            if (node == joiner && e.Kind == MemberEventKind.JoinedMesh) joinedAt = e.At;
        };

        Assert.True(cluster.RunUntil(() => joinedAt is not null, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(10)));
        // The join goes out by datagram (a latency); the answer connects (a round trip), passes the seed's link and
        // the joiner's (pipelined: the size over the bandwidth once) and arrives a latency after its last byte.
        long expected = 4 * network.SameZoneMicros + network.StreamMicros(cluster.LargestStream);
        Assert.InRange(joinedAt!.Value - start, expected, expected + 1_000);
    }

    [Fact]
    public void A_probe_above_the_datagram_budget_is_refused_and_counted_as_the_nodes_socket_would()
    {
        var cluster = new SimCluster(23, MeshConfig.Default with { MaxPacketBytes = 512 });
        cluster.AddNode(id: new string('a', 255));
        cluster.AddNode(0, 1, [0], id: new string('b', 255));
        cluster.RunFor(TimeSpan.FromSeconds(5));

        Assert.True(cluster.OversizeRefused > 0, "no probe between two 255-byte ids was refused at a 512-byte budget");
        Assert.InRange(cluster.LargestDatagram, 0, 512);
    }

    [Fact]
    public void Push_pull_between_agreeing_views_carries_no_members_and_one_that_differs_only_its_buckets()
    {
        var cluster = new SimCluster(24, Clusters.Fast);
        cluster.Bootstrap(1_000);
        var pushPulls = new List<PushPull>();
        cluster.OnDeliver = (_, m) =>
        {
            if (m is PushPull pp) pushPulls.Add(pp);
        };
        cluster.RunFor(TimeSpan.FromSeconds(20));

        // Each request names only its sender; answers between agreeing views name nobody.
        Assert.NotEmpty(pushPulls);
        Assert.All(pushPulls.Where(p => !p.IsReply), p => Assert.Equal(p.SourceId, Assert.Single(p.Members).Meta.Id));
        Assert.All(pushPulls.Where(p => p.IsReply), p => Assert.Empty(p.Members));
        Assert.Equal(ViewDigest.BucketsFor(1_000), pushPulls[0].Digest.Length);
    }

    [Fact]
    public void A_joiner_whose_seed_does_not_answer_asks_again_within_a_gossip_interval_then_backs_off_to_the_retry_interval()
    {
        // Pods start together: the seed may not be listening for the first request, and the fleet should not wait 2 s for it.
        var self = new MemberMeta("joiner", "10.0.0.2:7946", "", "", "r", "z", 100, 1);
        var node = new SwimNode(MeshConfig.Default, self, new MemberDirectory(), 1);
        node.Start(0, ["10.0.0.1:7946"]);
        var sent = new List<long>();
        for (long now = 0; now <= 8 * Micros.PerSecond; now += 10_000)
        {
            node.Tick(now);
            if (node.Outbox.Any(o => o.Message is PushPull { Join: true })) sent.Add(now);
            node.Outbox.Clear();
        }
        long[] gaps = sent.Zip(sent.Skip(1), (a, b) => b - a).ToArray();
        long interval = Micros.From(MeshConfig.Default.GossipInterval), cap = Micros.From(MeshConfig.Default.JoinRetryInterval);
        Assert.True(gaps.Length >= 5, $"join requests at {string.Join(", ", sent)} µs");
        // Within a timer step (10 ms) of a gossip interval doubling: 200, 400, 800, 1,600 ms, then the 2 s retry interval.
        for (int i = 0; i < gaps.Length; i++)
            Assert.InRange(gaps[i], Math.Min(cap, interval << i), Math.Min(cap, interval << i) + 10_000);
    }

    [Fact]
    public void A_view_that_differs_in_one_member_gets_only_that_members_bucket_from_a_push_pull()
    {
        // Two real-node-like members with their own directories, both told of the same 200 members.
        var config = MeshConfig.Default with { PushPullInterval = TimeSpan.FromMilliseconds(100) };
        MemberMeta[] metas = Enumerable.Range(0, 200).Select(i => new MemberMeta($"m-{i}", $"10.0.0.{i}:7946", "", "", "r", "z", 100, 1)).ToArray();
        var everyone = new PushPull { SourceId = "m-2", SourceAddress = metas[2].GossipAddress, IsReply = true, Members = metas.Select(m => new MemberRecord(m, 0, MemberState.Alive)).ToArray() };
        SwimNode a = Started(metas[0]), b = Started(metas[1]);
        SwimNode Started(MemberMeta self)
        {
            var node = new SwimNode(config, self, new MemberDirectory(), 1);
            node.Start(0, []);
            node.Receive(0, everyone);
            node.Outbox.Clear();
            return node;
        }
        // b hears that m-17 came back at incarnation 5; a does not.
        b.Receive(1, new Gossip { SourceId = "m-17", Updates = [new MemberUpdate(UpdateKind.Alive, "m-17", 5, "m-17", metas[17])] });
        b.Outbox.Clear();

        PushPull? request = null;
        for (long now = 2; request is null && now < Micros.PerSecond; now += 1_000)
        {
            a.Tick(now);
            request = a.Outbox.Select(o => o.Message).OfType<PushPull>().FirstOrDefault();
            a.Outbox.Clear();
        }
        Assert.NotNull(request);
        Assert.Equal("m-0", Assert.Single(request.Members).Meta.Id);
        b.Receive(2, request);
        PushPull answer = b.Outbox.Select(o => o.Message).OfType<PushPull>().Single();

        int buckets = request.Digest.Length;
        int bucket = ViewDigest.Bucket(BlobCache.Mesh.Placement.StableHash.Of("m-17"), buckets);
        string[] sameBucket = metas.Where(m => ViewDigest.Bucket(BlobCache.Mesh.Placement.StableHash.Of(m.Id), buckets) == bucket).Select(m => m.Id).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(sameBucket, answer.Members.Select(m => m.Meta.Id).Order(StringComparer.Ordinal));
        Assert.Contains(new MemberRecord(metas[17], 5, MemberState.Alive), answer.Members);

        a.Receive(3, answer);
        Assert.True(a.Directory.TryGet("m-17", out int m17));
        Assert.Equal(5u, a.View[m17].Incarnation);
        Assert.Empty(a.Outbox.Select(o => o.Message).OfType<PushPull>()); // nothing b lacks
    }
}
