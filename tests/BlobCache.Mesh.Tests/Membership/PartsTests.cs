using BlobCache.Mesh.Membership;
using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Tests.Membership;

public class BroadcastQueueTests
{
    private static MemberUpdate Suspect(string id, uint inc = 1) => new(UpdateKind.Suspect, id, inc, "accuser", null);

    /// <summary>A queue whose directory knows "a" as member 1 and "b" as member 2 (and member-0000.. after them).</summary>
    private static BroadcastQueue NewQueue()
    {
        var directory = new MemberDirectory();
        foreach (string id in new[] { "zero", "a", "b", "accuser" }) directory.GetOrAdd(id);
        for (int i = 0; i < 200; i++) directory.GetOrAdd($"member-{i:D4}");
        return new BroadcastQueue(directory);
    }

    [Fact]
    public void Least_sent_rumours_go_first_and_retire_at_the_retransmit_limit()
    {
        var queue = NewQueue();
        queue.Enqueue(1, Suspect("a"));
        var first = new List<MemberUpdate>();
        queue.Take(10_000, retransmitLimit: 3, first);
        queue.Enqueue(2, Suspect("b"));

        // "b" has never been sent, "a" once: a budget for one rumour takes "b".
        var taken = new List<MemberUpdate>();
        int oneRumour = GossipCodec.MeasureUpdate(Suspect("b")) + 1;
        queue.Take(oneRumour, 3, taken);
        Assert.Equal("b", Assert.Single(taken).MemberId);

        for (int i = 0; i < 5; i++) queue.Take(10_000, 3, taken);
        Assert.Equal(0, queue.Count);
        Assert.Equal(3, taken.Count(u => u.MemberId == "a") + first.Count);
        Assert.Equal(3, taken.Count(u => u.MemberId == "b"));
    }

    [Fact]
    public void A_newer_rumour_about_a_member_replaces_the_older_one()
    {
        var queue = NewQueue();
        queue.Enqueue(1, Suspect("a", 1));
        queue.Enqueue(1, new MemberUpdate(UpdateKind.Dead, "a", 1, "accuser", null));
        var taken = new List<MemberUpdate>();
        queue.Take(10_000, 5, taken);
        Assert.Equal(UpdateKind.Dead, Assert.Single(taken).Kind);
    }

    [Fact]
    public void Nothing_beyond_the_byte_budget_is_taken()
    {
        var queue = NewQueue();
        for (int i = 0; i < 200; i++) queue.Enqueue(4 + i, Suspect($"member-{i:D4}"));
        var taken = new List<MemberUpdate>();
        queue.Take(1000, 5, taken);
        int bytes = taken.Sum(u => GossipCodec.MeasureUpdate(u));
        Assert.InRange(bytes, 1000 - 2 * GossipCodec.MeasureUpdate(Suspect("member-0000")), 1000);
        Assert.Equal(200, queue.Count); // sent once, none retired yet
    }
}

public class SuspicionTests
{
    [Fact]
    public void Timeout_starts_at_max_and_reaches_min_after_k_independent_confirmations()
    {
        var set = new SuspicionSet(maxConfirmations: 3);
        long due = set.Start(member: 1, incarnation: 0, accuser: 10, k: 3, min: 1_000, max: 6_000, now: 0);
        Assert.Equal(6_000, due);
        Assert.True(set.Confirm(1, 11, out long afterOne));
        Assert.InRange(afterOne, 1_001, 5_999);
        Assert.False(set.Confirm(1, 11, out _)); // the same confirmer twice counts once
        Assert.False(set.Confirm(1, 10, out _)); // nor does the original accuser
        Assert.True(set.TryGet(1, out uint incarnation));
        Assert.Equal(0u, incarnation);
        Assert.Equal(afterOne, set.DueOf(1));
        Assert.True(set.Confirm(1, 12, out long afterTwo));
        Assert.True(afterTwo < afterOne);
        Assert.True(set.WantsConfirmations(1));
        Assert.True(set.Confirm(1, 13, out long afterThree));
        Assert.Equal(1_000, afterThree);
        Assert.False(set.WantsConfirmations(1));
        Assert.False(set.Confirm(1, 14, out _)); // beyond k nothing changes
    }

    [Fact]
    public void With_no_expected_confirmations_the_timeout_is_the_minimum()
    {
        var set = new SuspicionSet(2);
        Assert.Equal(2_500, set.Start(1, 0, 10, k: 0, min: 2_000, max: 12_000, now: 500));
    }

    [Fact]
    public void Removing_keeps_the_others_intact_and_reachable()
    {
        var set = new SuspicionSet(2);
        for (int m = 0; m < 100; m++) set.Start(m, (uint)m, accuser: 1000 + m, k: 2, min: 10, max: 60, now: m);
        for (int m = 0; m < 100; m += 3) set.Remove(m);
        Assert.Equal(100 - 34, set.Count);
        var seen = new HashSet<int>();
        for (int i = 0; i < set.Count; i++) seen.Add(set.MemberAt(i));
        for (int m = 0; m < 100; m++)
        {
            Assert.Equal(m % 3 != 0, set.TryGet(m, out uint incarnation));
            Assert.Equal(m % 3 != 0, seen.Contains(m));
            if (m % 3 != 0)
            {
                Assert.Equal((uint)m, incarnation);
                Assert.False(set.Confirm(m, 1000 + m, out _)); // its own accuser, kept with it when it moved
                Assert.True(set.Confirm(m, 5, out _));
            }
        }
    }

    [Fact]
    public void Suspicions_expire_in_order_of_due_time_as_confirmations_shorten_them()
    {
        var set = new SuspicionSet(2);
        var random = new DeterministicRandom(3);
        var due = new Dictionary<int, long>();
        for (int m = 0; m < 300; m++) due[m] = set.Start(m, 0, accuser: 1000, k: 2, min: 100, max: 600, now: random.Next(1_000));
        for (int i = 0; i < 400; i++)
        {
            int m = random.Next(300);
            if (set.Confirm(m, 2000 + random.Next(5), out long d)) due[m] = d;
        }
        for (int m = 0; m < 300; m += 7)
        {
            set.Remove(m);
            due.Remove(m);
        }
        Assert.Equal(due.Values.Min(), set.NextDue);
        long last = long.MinValue;
        int expired = 0;
        Assert.False(set.TryExpire(set.NextDue - 1, out _, out _));
        while (set.TryExpire(long.MaxValue, out int member, out _))
        {
            Assert.Equal(due[member], Math.Max(last, due[member]));
            last = due[member];
            expired++;
        }
        Assert.Equal(due.Count, expired);
        Assert.Equal(long.MaxValue, set.NextDue);
    }
}

public class AwarenessTests
{
    [Fact]
    public void The_score_stays_within_bounds_and_scales_timeouts()
    {
        var a = new Awareness(8);
        a.Apply(-3);
        Assert.Equal(0, a.Score);
        Assert.Equal(500, a.Scale(500));
        a.Apply(3);
        Assert.Equal(2000, a.Scale(500));
        a.Apply(100);
        Assert.Equal(7, a.Score);
    }
}

public class DeterministicRandomTests
{
    [Fact]
    public void One_seed_gives_one_sequence_and_values_stay_in_range()
    {
        var a = new DeterministicRandom(5);
        var b = new DeterministicRandom(5);
        var c = new DeterministicRandom(6);
        var seqA = Enumerable.Range(0, 100).Select(_ => a.NextUInt64()).ToArray();
        Assert.Equal(seqA, Enumerable.Range(0, 100).Select(_ => b.NextUInt64()));
        Assert.NotEqual(seqA, Enumerable.Range(0, 100).Select(_ => c.NextUInt64()));

        var counts = new int[7];
        for (int i = 0; i < 70_000; i++) counts[a.Next(7)]++;
        Assert.All(counts, n => Assert.InRange(n, 9_000, 11_000));
        Assert.NotEqual(DeterministicRandom.Derive(1, 1), DeterministicRandom.Derive(1, 2));
    }
}

public class MeshConfigTests
{
    [Fact]
    public void Bad_settings_are_rejected_with_the_setting_named()
    {
        var e = Assert.Throws<ArgumentException>(() => (MeshConfig.Default with { ProbeTimeout = TimeSpan.FromSeconds(2) }).Validate());
        Assert.Contains("ProbeTimeout", e.Message);
        e = Assert.Throws<ArgumentException>(() => (MeshConfig.Default with { MaxPacketBytes = 100 }).Validate());
        Assert.Contains("MaxPacketBytes", e.Message);
        MeshConfig.Default.Validate();
    }
}
