using BlobCache.Mesh.Placement;
using BlobCache.Mesh.Reading;

namespace BlobCache.Mesh.Tests.Reading;

public class MetadataRouteTests
{
    private static readonly MetadataRouting Settings = new() { MembersPerOwner = 256, PeerDeadlineMicros = 2_000 };

    private static (RegionPlacement Region, ulong[] Ids) RegionOf(int members)
    {
        ulong[] ids = Enumerable.Range(0, members).Select(i => StableHash.Of($"node-{i}")).ToArray();
        return (RegionPlacement.Build(ids.Select((id, i) => new PlacementMember(i, id, 100)).ToArray()), ids);
    }

    private static int[] OwnersOf(RegionPlacement region, ulong key)
    {
        var owners = new int[2];
        region.Owners(key, owners);
        return owners;
    }

    [Fact]
    public void In_a_small_region_a_reader_asks_the_owner_then_the_second_owner_then_Blob()
    {
        (RegionPlacement region, ulong[] ids) = RegionOf(20);
        int[] owners = OwnersOf(region, 42);
        int reader = Enumerable.Range(0, 20).First(m => !owners.Contains(m));
        MetadataRoute route = MetadataRoute.Plan(Settings, 42, reader, ids[reader], region);

        MetadataDecision d = route.Start(100);
        Assert.Equal((MetadataStep.AskPeer, owners[0], true, 2_100L), (d.Step, d.Member, d.Direct, d.Deadline));
        d = route.OnAnswer(2_100, answered: false);
        Assert.Equal((MetadataStep.AskPeer, owners[1], true, 4_100L), (d.Step, d.Member, d.Direct, d.Deadline));
        Assert.Equal(MetadataStep.AskBlob, route.OnAnswer(4_100, answered: false).Step);
    }

    [Fact]
    public void The_owner_asks_Blob_itself_and_the_second_owner_asks_only_the_first()
    {
        (RegionPlacement region, ulong[] ids) = RegionOf(20);
        int[] owners = OwnersOf(region, 42);

        Assert.Equal(MetadataStep.AskBlob, MetadataRoute.Plan(Settings, 42, owners[0], ids[owners[0]], region).Start(0).Step);
        MetadataRoute second = MetadataRoute.Plan(Settings, 42, owners[1], ids[owners[1]], region);
        Assert.Equal(owners[0], second.Start(0).Member);
        Assert.Equal(MetadataStep.AskBlob, second.OnAnswer(1, answered: false).Step);
    }

    [Fact]
    public void A_peer_that_answers_ends_the_route()
    {
        (RegionPlacement region, ulong[] ids) = RegionOf(20);
        int reader = Enumerable.Range(0, 20).First(m => !OwnersOf(region, 7).Contains(m));
        MetadataRoute route = MetadataRoute.Plan(Settings, 7, reader, ids[reader], region);
        route.Start(0);
        Assert.Equal(MetadataStep.Done, route.OnAnswer(10, answered: true).Step);
        Assert.Equal(MetadataStep.Done, route.OnAnswer(20, answered: false).Step);
    }

    [Fact]
    public void A_direct_request_from_a_peer_is_answered_from_Blob_and_never_forwarded()
    {
        (RegionPlacement region, ulong[] ids) = RegionOf(20);
        int notOwner = Enumerable.Range(0, 20).First(m => !OwnersOf(region, 42).Contains(m));
        MetadataRoute route = MetadataRoute.Plan(Settings, 42, notOwner, ids[notOwner], region, forPeer: true, direct: true);
        Assert.Equal(0, route.PeersPlanned);
        Assert.Equal(MetadataStep.AskBlob, route.Start(0).Step);
    }

    [Fact]
    public void Disabled_routing_asks_Blob_at_once()
    {
        (RegionPlacement region, ulong[] ids) = RegionOf(20);
        MetadataRoute route = MetadataRoute.Plan(Settings with { Enabled = false }, 42, 3, ids[3], region);
        Assert.Equal(MetadataStep.AskBlob, route.Start(0).Step);
    }

    [Fact]
    public void In_a_large_region_readers_ask_their_bucket_deputy_first_and_deputies_ask_the_owner_directly()
    {
        (RegionPlacement region, ulong[] ids) = RegionOf(2_000);
        const ulong key = 99;
        int[] owners = OwnersOf(region, key);
        int buckets = MetadataRoute.BucketsFor(Settings, 2_000);
        Assert.Equal(8, buckets);
        var firstAsked = new Dictionary<int, int>();
        for (int m = 0; m < 2_000; m++)
        {
            MetadataDecision d = MetadataRoute.Plan(Settings, key, m, ids[m], region).Start(0);
            if (d.Step != MetadataStep.AskPeer) continue;
            firstAsked[d.Member] = firstAsked.GetValueOrDefault(d.Member) + 1;
            if (d.Member == owners[0]) Assert.True(d.Direct);
            else Assert.False(d.Direct);
        }
        // Each deputy is asked by about its bucket's share, the owner only by deputies and members whose deputy it is.
        Assert.InRange(firstAsked.Count, 2, buckets + 1);
        Assert.All(firstAsked.Values, n => Assert.True(n <= 2_000 / buckets * 2, $"{n} readers ask one node first"));
        int deputy = firstAsked.Keys.First(k => k != owners[0]);
        MetadataRoute asDeputy = MetadataRoute.Plan(Settings, key, deputy, ids[deputy], region, forPeer: true, direct: false);
        MetadataDecision first = asDeputy.Start(0);
        Assert.Equal((owners[0], true), (first.Member, first.Direct));
    }

    [Fact]
    public void In_a_large_region_the_owner_asks_Blob_itself_and_no_deputy()
    {
        // A deputy would only ask the owner back: a round trip, and a request the owner must not wait on.
        (RegionPlacement region, ulong[] ids) = RegionOf(2_000);
        for (ulong key = 0; key < 50; key++)
        {
            int owner = OwnersOf(region, key)[0];
            MetadataRoute route = MetadataRoute.Plan(Settings, key, owner, ids[owner], region);
            Assert.Equal(0, route.PeersPlanned);
            Assert.Equal(MetadataStep.AskBlob, route.Start(0).Step);
        }
    }

    [Fact]
    public void A_failed_deputy_sends_the_reader_to_the_owner()
    {
        (RegionPlacement region, ulong[] ids) = RegionOf(2_000);
        int[] owners = OwnersOf(region, 5);
        for (int m = 0; m < 2_000; m++)
        {
            MetadataRoute route = MetadataRoute.Plan(Settings, 5, m, ids[m], region);
            if (route.PeersPlanned < 3) continue;
            Assert.False(route.Start(0).Direct);
            MetadataDecision d = route.OnAnswer(2_000, answered: false);
            Assert.Equal((owners[0], true), (d.Member, d.Direct));
            return;
        }
        Assert.Fail("no reader with a deputy");
    }

    [Fact]
    public void Buckets_grow_with_the_region_and_stop_at_their_bound()
    {
        Assert.Equal(1, MetadataRoute.BucketsFor(Settings, 256));
        Assert.Equal(2, MetadataRoute.BucketsFor(Settings, 257));
        Assert.Equal(131, MetadataRoute.BucketsFor(Settings, 33_334));
        Assert.Equal(MetadataRouting.MaxBuckets, MetadataRoute.BucketsFor(Settings with { MembersPerOwner = 1 }, 100_000));
    }

    [Fact]
    public void An_owner_throttled_by_Blob_is_asked_again_after_a_growing_backoff_and_only_past_the_wait_does_the_reader_move_on()
    {
        (RegionPlacement region, ulong[] ids) = RegionOf(20);
        int[] owners = OwnersOf(region, 42);
        int reader = Enumerable.Range(0, 20).First(m => !owners.Contains(m));
        MetadataRouting settings = Settings with { ThrottleBackoffMicros = 100, ThrottleWaitMicros = 1_000 };
        MetadataRoute route = MetadataRoute.Plan(settings, 42, reader, ids[reader], region);
        route.Start(0);
        MetadataDecision d = route.OnThrottled(10);
        Assert.Equal((MetadataStep.AskPeer, owners[0], 110L, 2_110L), (d.Step, d.Member, d.NotBefore, d.Deadline));
        d = route.OnThrottled(200);
        Assert.Equal((owners[0], 400L), (d.Member, d.NotBefore));
        d = route.OnThrottled(1_010); // past the wait: the second owner, at once
        Assert.Equal((owners[1], 1_010L), (d.Member, d.NotBefore));
    }

    [Fact]
    public void A_node_asking_a_throttled_owner_for_a_peer_answers_that_peer_busy_at_once_instead_of_backing_off_itself()
    {
        (RegionPlacement region, ulong[] ids) = RegionOf(20);
        int[] owners = OwnersOf(region, 42);
        int deputy = Enumerable.Range(0, 20).First(m => !owners.Contains(m));
        MetadataRoute route = MetadataRoute.Plan(Settings, 42, deputy, ids[deputy], region, forPeer: true);
        Assert.Equal((owners[0], true), (route.Start(0).Member, route.Current.Direct));
        MetadataDecision d = route.OnThrottled(10);
        Assert.Equal((MetadataStep.AnswerBusy, owners[0]), (d.Step, d.Member));
        Assert.Equal(MetadataStep.AnswerBusy, route.OnAnswer(20, answered: true).Step); // ended: nothing after it changes it
    }
}
