using BlobCache.Mesh.Placement;
using BlobCache.Mesh.Reading;

namespace BlobCache.Mesh.Tests.Reading;

public class ChunkRouteTests
{
    private static readonly ReadRouting Settings = new() { OwnersToTry = 2, HoldersToTry = 4, BusyRetries = 2, BusyBackoffMicros = 1_000, BusyWaitMicros = 3_000, PeerDeadlineMicros = 5_000 };
    private static readonly RegionPlacement Region = RegionPlacement.Build(Enumerable.Range(0, 20).Select(i => new PlacementMember(i, StableHash.Of($"m{i}"), 100)).ToArray());
    private static readonly RegionPlacement Pooled = RegionPlacement.Build(Enumerable.Range(100, 10).Select(i => new PlacementMember(i, StableHash.Of($"p{i}"), 100)).ToArray());

    private static (ulong Key, int First, int Second) KeyWithOwners()
    {
        var owners = new int[2];
        Region.Owners(42, owners);
        return (42, owners[0], owners[1]);
    }

    private static int Reader(params int[] not) => Enumerable.Range(0, 20).First(m => !not.Contains(m));

    [Fact]
    public void A_reader_asks_the_owners_in_rank_order_with_fill_then_the_pooled_owner_without_then_Blob()
    {
        (ulong key, int first, int second) = KeyWithOwners();
        ChunkRoute route = ChunkRoute.Plan(Settings, key, Reader(first, second), Region, [Pooled]);

        RouteDecision d = route.Start(0);
        Assert.Equal((RouteStep.AskPeer, first, PeerRole.RegionOwner, true, 0L, 5_000L), (d.Step, d.Member, d.Role, d.Fill, d.NotBefore, d.Deadline));
        d = route.OnAnswer(5_000, PeerAnswer.TimedOut);
        Assert.Equal((RouteStep.AskPeer, second, true), (d.Step, d.Member, d.Fill));
        d = route.OnAnswer(6_000, PeerAnswer.Failed);
        Assert.Equal((RouteStep.AskPeer, Pooled.Owner(key), PeerRole.PooledOwner, false), (d.Step, d.Member, d.Role, d.Fill));
        d = route.OnAnswer(7_000, PeerAnswer.NotHere);
        Assert.Equal(RouteStep.ReadBlob, d.Step);
    }

    [Fact]
    public void The_first_owner_reads_Blob_for_its_region_without_asking_anyone_in_it()
    {
        (ulong key, int first, _) = KeyWithOwners();
        ChunkRoute route = ChunkRoute.Plan(Settings, key, first, Region, []);
        Assert.Equal(0, route.OwnersPlanned);
        Assert.Equal(RouteStep.ReadBlob, route.Start(0).Step);
    }

    [Fact]
    public void The_second_owner_asks_only_the_first()
    {
        (ulong key, int first, int second) = KeyWithOwners();
        ChunkRoute route = ChunkRoute.Plan(Settings, key, second, Region, []);
        Assert.Equal(first, route.Start(0).Member);
        Assert.Equal(RouteStep.ReadBlob, route.OnAnswer(1, PeerAnswer.Failed).Step);
    }

    [Fact]
    public void A_busy_owner_sends_the_reader_to_its_holders_then_back_to_itself_after_a_doubling_backoff()
    {
        (ulong key, int first, int second) = KeyWithOwners();
        int reader = Reader(first, second);
        int h1 = Reader(first, second, reader), h2 = Reader(first, second, reader, h1);
        ChunkRoute route = ChunkRoute.Plan(Settings, key, reader, Region, []);
        route.Start(0);

        RouteDecision d = route.OnAnswer(10, PeerAnswer.Busy, [h1, reader, h2, h1]);
        Assert.Equal((RouteStep.AskPeer, h1, PeerRole.Holder, false), (d.Step, d.Member, d.Role, d.Fill));
        d = route.OnAnswer(20, PeerAnswer.NotHere);
        Assert.Equal(h2, d.Member);
        d = route.OnAnswer(30, PeerAnswer.Busy);
        Assert.Equal((first, PeerRole.RegionOwner, 30L + 1_000), (d.Member, d.Role, d.NotBefore));
        d = route.OnAnswer(1_100, PeerAnswer.Busy);
        Assert.Equal((first, 1_100L + 2_000), (d.Member, d.NotBefore));
        // Busy for longer than the busy wait (since 10): the next owner, then Blob.
        d = route.OnAnswer(3_200, PeerAnswer.Busy);
        Assert.Equal((second, 3_200L), (d.Member, d.NotBefore));
        Assert.Equal(RouteStep.ReadBlob, route.OnAnswer(3_300, PeerAnswer.NotHere).Step);
    }

    [Fact]
    public void A_holder_is_never_asked_twice_however_often_it_is_named()
    {
        (ulong key, int first, int second) = KeyWithOwners();
        int reader = Reader(first, second);
        int[] others = Enumerable.Range(0, 20).Where(m => m != first && m != second && m != reader).ToArray();
        ChunkRoute route = ChunkRoute.Plan(Settings with { BusyRetries = 0 }, key, reader, Region, []);
        route.Start(0);
        var asked = new List<int>();
        RouteDecision d = route.OnAnswer(1, PeerAnswer.Busy, others);
        while (d.Step == RouteStep.AskPeer && d.Role == PeerRole.Holder)
        {
            asked.Add(d.Member);
            // Every holder names all the others again: none may be asked a second time.
            d = route.OnAnswer(2, PeerAnswer.Busy, others);
        }
        Assert.Equal(others.Length, asked.Count); // each busy holder names more: the route walks down the tree
        Assert.Equal(asked.Count, asked.Distinct().Count());
        Assert.Equal((RouteStep.AskPeer, first), (d.Step, d.Member)); // then back to the busy owner
    }

    [Fact]
    public void A_chunk_ends_the_route_and_a_changed_blob_ends_it_differently()
    {
        (ulong key, int first, int second) = KeyWithOwners();
        ChunkRoute a = ChunkRoute.Plan(Settings, key, Reader(first, second), Region, []);
        a.Start(0);
        Assert.Equal(RouteStep.Done, a.OnAnswer(1, PeerAnswer.Chunk).Step);
        Assert.Equal(RouteStep.Done, a.OnAnswer(2, PeerAnswer.Failed).Step); // answers after the end change nothing
        ChunkRoute b = ChunkRoute.Plan(Settings, key, Reader(first, second), Region, []);
        b.Start(0);
        Assert.Equal(RouteStep.BlobChanged, b.OnAnswer(1, PeerAnswer.BlobChanged).Step);
    }

    [Fact]
    public void Every_route_ends_at_a_chunk_or_Blob_within_a_bounded_number_of_steps_whatever_the_peers_answer()
    {
        var random = new Random(5);
        PeerAnswer[] answers = [PeerAnswer.NotHere, PeerAnswer.Busy, PeerAnswer.Failed, PeerAnswer.TimedOut];
        for (int trial = 0; trial < 2_000; trial++)
        {
            ulong key = (ulong)random.NextInt64();
            int reader = random.Next(20);
            ChunkRoute route = ChunkRoute.Plan(Settings, key, reader, Region, [Pooled]);
            RouteDecision d = route.Start(0);
            int steps = 0;
            long now = 0;
            while (d.Step == RouteStep.AskPeer)
            {
                Assert.NotEqual(reader, d.Member);
                Assert.True(d.NotBefore >= now);
                now = d.NotBefore + 1;
                int[] holders = Enumerable.Range(0, random.Next(6)).Select(_ => random.Next(20)).ToArray();
                d = route.OnAnswer(now, answers[random.Next(answers.Length)], holders);
                // Every member at most once as a holder, owners and the pooled owner, and the busy owner only as often as
                // the busy wait allows.
                Assert.True(++steps <= Settings.OwnersToTry + 20 + Settings.BusyWaitMicros / Settings.BusyBackoffMicros + 2, "route did not end");
            }
            Assert.Equal(RouteStep.ReadBlob, d.Step);
        }
    }

    [Fact]
    public void A_busy_owner_is_asked_again_at_the_capped_backoff_until_the_busy_wait_runs_out_and_never_sends_the_reader_to_Blob_sooner()
    {
        (ulong key, int first, int second) = KeyWithOwners();
        ChunkRoute route = ChunkRoute.Plan(Settings with { BusyWaitMicros = 100_000 }, key, Reader(first, second), Region, []);
        route.Start(0);
        long now = 0;
        var waits = new List<long>();
        RouteDecision d;
        while (true)
        {
            d = route.OnAnswer(now, PeerAnswer.Busy);
            if (d.Member != first) break;
            waits.Add(d.NotBefore - now);
            now = d.NotBefore;
        }
        Assert.Equal([1_000L, 2_000, 4_000, 4_000, 4_000], waits.Take(5));
        Assert.True(now >= 100_000 - 4_000, $"gave up on the busy owner after {now} µs of a 100,000 µs busy wait");
        Assert.Equal((RouteStep.AskPeer, second), (d.Step, d.Member)); // then the next owner, only then Blob
        Assert.Equal(RouteStep.ReadBlob, route.OnAnswer(now, PeerAnswer.Busy).Step);
    }

    [Fact]
    public void Each_busy_answer_can_name_new_holders_once_the_named_ones_are_asked()
    {
        (ulong key, int first, int second) = KeyWithOwners();
        int reader = Reader(first, second);
        int[] others = Enumerable.Range(0, 20).Where(m => m != first && m != second && m != reader).Take(10).ToArray();
        ChunkRoute route = ChunkRoute.Plan(Settings with { BusyWaitMicros = 1_000_000 }, key, reader, Region, []);
        route.Start(0);
        var asked = new List<int>();
        RouteDecision d = route.OnAnswer(1, PeerAnswer.Busy, others.AsSpan(0, 4));
        for (int round = 0; round < 2; round++)
        {
            while (d.Role == PeerRole.Holder)
            {
                asked.Add(d.Member);
                d = route.OnAnswer(d.NotBefore, PeerAnswer.NotHere);
            }
            Assert.Equal(first, d.Member); // back to the busy owner, which names the next holders
            d = route.OnAnswer(d.NotBefore, PeerAnswer.Busy, others.AsSpan(4, 4));
        }
        Assert.Equal(others.Take(8), asked);
    }

    [Fact]
    public void A_busy_pooled_owner_is_asked_again_without_fill_rather_than_reading_Blob()
    {
        (ulong key, int first, int second) = KeyWithOwners();
        ChunkRoute route = ChunkRoute.Plan(Settings with { BusyWaitMicros = 10_000 }, key, Reader(first, second), Region, [Pooled]);
        route.Start(0);
        route.OnAnswer(1, PeerAnswer.Failed);
        RouteDecision d = route.OnAnswer(2, PeerAnswer.Failed);
        Assert.Equal(PeerRole.PooledOwner, d.Role);
        d = route.OnAnswer(3, PeerAnswer.Busy);
        Assert.Equal((RouteStep.AskPeer, Pooled.Owner(key), PeerRole.PooledOwner, false, 1_003L), (d.Step, d.Member, d.Role, d.Fill, d.NotBefore));
    }

    [Fact]
    public void Busy_holders_naming_each_other_in_a_large_region_cannot_keep_a_route_going_for_ever()
    {
        RegionPlacement big = RegionPlacement.Build(Enumerable.Range(0, 500).Select(i => new PlacementMember(i, StableHash.Of($"b{i}"), 100)).ToArray());
        var owners = new int[2];
        big.Owners(42, owners);
        int reader = Enumerable.Range(0, 500).First(m => !owners.Contains(m));
        ChunkRoute route = ChunkRoute.Plan(Settings, 42, reader, big, []);
        RouteDecision d = route.Start(0);
        int steps = 0, next = 0;
        // Every peer is busy and names four members never named before: more than the route remembers as asked.
        while (d.Step == RouteStep.AskPeer && steps++ < 10_000)
        {
            int[] fresh = Enumerable.Range(0, 4).Select(_ => next++ % 500).Where(m => m != reader).ToArray();
            d = route.OnAnswer(d.NotBefore, PeerAnswer.Busy, fresh);
        }
        Assert.Equal(RouteStep.ReadBlob, d.Step);
        Assert.InRange(steps, 1, ChunkRoute.MaxHolderAsks + Settings.OwnersToTry + Settings.BusyWaitMicros / Settings.BusyBackoffMicros + 2);
    }
}
