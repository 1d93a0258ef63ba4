using BlobCache.Mesh.Membership;
using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Tests.Membership;

public class BroadcastQueueTests
{
    private static MemberUpdate Suspect(string id, uint inc = 1) => new(UpdateKind.Suspect, id, inc, "accuser", null);

    /// <summary>A queue whose directory knows "a" as member 1 and "b" as member 2 (and member-0000.. after them).</summary>
    private static BroadcastQueue NewQueue(int maxAliveRumours = int.MaxValue)
    {
        var directory = new MemberDirectory();
        foreach (string id in new[] { "zero", "a", "b", "accuser" }) directory.GetOrAdd(id);
        for (int i = 0; i < 200; i++) directory.GetOrAdd($"member-{i:D4}");
        return new BroadcastQueue(directory, maxAliveRumours);
    }

    /// <summary>A join of member-<paramref name="i"/> as "accuser" passes it on (or, with <paramref name="own"/>, as it says it itself).</summary>
    private static MemberUpdate Join(int i, bool own = false)
    {
        string id = $"member-{i:D4}";
        return new MemberUpdate(UpdateKind.Alive, id, 1, own ? id : "accuser", new MemberMeta(id, $"10.0.1.{i}:7946", "", "", "r", "z", 100, 1));
    }

    private static List<string> TakeAll(BroadcastQueue queue)
    {
        var taken = new List<MemberUpdate>();
        queue.Take(100_000, retransmitLimit: 1, taken);
        return taken.Select(u => u.MemberId).Order().ToList();
    }

    [Fact]
    public void A_full_queue_drops_the_oldest_alive_rumour_never_sent_and_keeps_suspicions()
    {
        var queue = NewQueue(maxAliveRumours: 3);
        queue.Enqueue(1, Suspect("a"));
        for (int i = 0; i < 5; i++) queue.Enqueue(4 + i, Join(i));

        Assert.Equal(3, queue.AliveCount);
        Assert.Equal(2, queue.Dropped);
        Assert.Equal(["a", "member-0002", "member-0003", "member-0004"], TakeAll(queue));
    }

    [Fact]
    public void A_full_queue_whose_rumours_were_all_sent_drops_the_most_sent()
    {
        var queue = NewQueue(maxAliveRumours: 2);
        var taken = new List<MemberUpdate>();
        queue.Enqueue(4, Join(0));
        queue.Take(100_000, retransmitLimit: 5, taken);
        queue.Enqueue(5, Join(1));
        queue.Take(100_000, retransmitLimit: 5, taken); // member-0000 sent twice, member-0001 once
        queue.Enqueue(6, Join(2));

        Assert.Equal(1, queue.Dropped);
        Assert.Equal(["member-0001", "member-0002"], TakeAll(queue));
    }

    [Fact]
    public void A_full_queue_never_drops_the_member_s_own_announcement()
    {
        var queue = NewQueue(maxAliveRumours: 2);
        queue.Enqueue(4, Join(0, own: true));
        for (int i = 1; i < 4; i++) queue.Enqueue(4 + i, Join(i));

        Assert.Equal(["member-0000", "member-0003"], TakeAll(queue));
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
    public void Dead_rumours_retire_at_their_own_limit_when_one_is_given()
    {
        var queue = NewQueue();
        queue.Enqueue(1, Suspect("a"));
        queue.Enqueue(2, new MemberUpdate(UpdateKind.Dead, "b", 1, "accuser", null));
        var taken = new List<MemberUpdate>();
        for (int i = 0; i < 10; i++) queue.Take(10_000, 3, taken, deadRetransmitLimit: 7);

        Assert.Equal(0, queue.Count);
        Assert.Equal(3, taken.Count(u => u.MemberId == "a"));
        Assert.Equal(7, taken.Count(u => u.MemberId == "b"));
    }

    [Fact]
    public void A_rumour_the_view_has_moved_past_is_dropped_unsent()
    {
        var queue = NewQueue();
        var view = new MemberTable();
        view.Set(1, new MemberEntry { Incarnation = 1, Meta = 0, State = MemberState.Suspect });
        queue.Enqueue(1, Suspect("a", 1));
        view.Set(1, new MemberEntry { Incarnation = 1, Meta = 0, State = MemberState.Dead });
        queue.Enqueue(1, new MemberUpdate(UpdateKind.Dead, "a", 1, "accuser", null));
        Assert.Equal(2, queue.Count);
        var taken = new List<MemberUpdate>();
        queue.Take(10_000, 5, taken, view);
        Assert.Equal(UpdateKind.Dead, Assert.Single(taken).Kind);
        Assert.Equal(1, queue.Count);
    }

    [Fact]
    public void Alive_rumours_go_before_suspicions_even_when_sent_more_often()
    {
        var queue = NewQueue();
        var meta = new MemberMeta("b", "10.0.0.2:7946", "", "", "r", "z", 100, 1);
        queue.Enqueue(2, new MemberUpdate(UpdateKind.Alive, "b", 2, "b", meta));
        var first = new List<MemberUpdate>();
        queue.Take(10_000, retransmitLimit: 5, first); // the refutation has been sent once
        queue.Enqueue(1, Suspect("a"));                  // a fresh suspicion, never sent

        // Room for one rumour: the refutation, although the suspicion has been sent less often.
        var taken = new List<MemberUpdate>();
        queue.Take(GossipCodec.MeasureUpdate(first[0]) + 1, 5, taken);
        Assert.Equal(UpdateKind.Alive, Assert.Single(taken).Kind);
        queue.Take(10_000, 5, taken);
        Assert.Equal([UpdateKind.Alive, UpdateKind.Alive, UpdateKind.Suspect], taken.Select(u => u.Kind));
    }

    [Fact]
    public void A_rumour_can_name_the_slot_it_replaces()
    {
        var queue = NewQueue();
        int first = queue.Enqueue(1, Suspect("a", 1));
        int second = queue.Enqueue(queue.Directory.Rumour(UpdateKind.Suspect, 1, 1, 2), first);
        Assert.False(queue.Holds(first, 1) && first != second);
        var taken = new List<MemberUpdate>();
        queue.Take(10_000, 5, taken);
        Assert.Equal("b", Assert.Single(taken).From);
    }

    [Fact]
    public void An_ended_suspicion_drops_its_queued_rumour_at_once_and_nothing_else()
    {
        var queue = NewQueue();
        int suspicion = queue.Enqueue(1, Suspect("a", 1));
        int other = queue.Enqueue(2, Suspect("b", 1));
        queue.DropSuspicion(suspicion, member: 2); // names another member: nothing happens
        queue.DropSuspicion(-1, member: 1);
        Assert.Equal(2, queue.Count);
        queue.DropSuspicion(suspicion, member: 1);
        Assert.Equal(1, queue.Count);
        Assert.True(queue.Holds(other, 2));
        int dead = queue.Enqueue(1, new MemberUpdate(UpdateKind.Dead, "a", 1, "accuser", null)); // reuses the freed slot
        queue.DropSuspicion(dead, member: 1); // a death is not a suspicion: it stays
        Assert.True(queue.Holds(dead, 1));
        Assert.Equal(2, queue.Count);
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
        Assert.True(set.Confirm(1, 11, now: 0, out long afterOne));
        Assert.InRange(afterOne, 1_001, 5_999);
        Assert.False(set.Confirm(1, 11, 0, out _)); // the same confirmer twice counts once
        Assert.False(set.Confirm(1, 10, 0, out _)); // nor does the original accuser
        Assert.True(set.TryGet(1, out uint incarnation));
        Assert.Equal(0u, incarnation);
        Assert.Equal(afterOne, set.DueOf(1));
        Assert.True(set.Confirm(1, 12, 0, out long afterTwo));
        Assert.True(afterTwo < afterOne);
        Assert.True(set.WantsConfirmations(1));
        Assert.True(set.Confirm(1, 13, 0, out long afterThree));
        Assert.Equal(1_000, afterThree);
        Assert.False(set.WantsConfirmations(1));
        Assert.False(set.Confirm(1, 14, 0, out _)); // beyond k nothing changes
    }

    [Fact]
    public void Finding_a_suspicion_once_gives_everything_a_received_rumour_needs()
    {
        var set = new SuspicionSet(2);
        set.Start(7, incarnation: 3, accuser: 10, k: 2, min: 100, max: 600, now: 0);
        int at = set.Find(7);
        Assert.True(at >= 0);
        Assert.Equal(at, set.FindWanting(7));
        Assert.Equal(-1, set.Find(8));
        Assert.Equal(3u, set.IncarnationAt(at));
        set.SetRumourSlotAt(at, 42);
        Assert.Equal(42, set.RumourSlotAt(at));
        Assert.True(set.ConfirmAt(at, 11, 0, out long due, out bool stillActive));
        Assert.True(stillActive);
        Assert.InRange(due, 101, 599);
        Assert.False(set.ConfirmAt(set.Find(7), 11, 0, out _, out _));
        Assert.True(set.ConfirmAt(set.Find(7), 12, 0, out due, out stillActive));
        Assert.False(stillActive); // k confirmations in: no more wanted
        Assert.Equal(100, due);
        Assert.Equal(-1, set.FindWanting(7)); // turned away at the map, without reading the record
        Assert.False(set.ConfirmAt(set.Find(7), 13, 0, out _, out _));
        Assert.Equal(42, set.Remove(7)); // still open until it ends: its rumour slot comes back
        Assert.Equal(-1, set.Find(7));
        Assert.Equal(-1, set.Remove(7));
        Assert.Equal(0, set.Count);
    }

    [Fact]
    public void Starts_confirmations_removals_and_expiries_in_any_order_match_a_plain_model()
    {
        // The set keeps its suspicions in a heap that confirmations and removals reorder in place; a dictionary of
        // due times is the model it must agree with, expiry by expiry.
        var set = new SuspicionSet(2);
        var model = new Dictionary<int, (long Due, uint Incarnation, HashSet<int> Seen, long Start)>();
        var random = new DeterministicRandom(11);
        const long min = 1_000, max = 6_000;
        long now = 0;
        for (int step = 0; step < 20_000; step++)
        {
            now += random.Next(40);
            int member = random.Next(300);
            switch (random.Next(4))
            {
                case 0:
                    uint inc = (uint)random.Next(3);
                    int accuser = 1000 + random.Next(10);
                    Assert.Equal(now + max, set.Start(member, inc, accuser, k: 2, min, max, now));
                    model[member] = (now + max, inc, [accuser], now);
                    break;
                case 1:
                    int from = 1000 + random.Next(10);
                    bool counted = set.Confirm(member, from, now, out long due);
                    if (model.TryGetValue(member, out var m) && m.Seen.Count <= 2 && m.Seen.Add(from))
                    {
                        Assert.True(counted);
                        long expected = m.Start + SuspicionSet.Timeout(m.Seen.Count - 1, 2, min, max);
                        Assert.Equal(expected, due);
                        model[member] = m with { Due = expected };
                    }
                    else Assert.False(counted);
                    break;
                case 2:
                    set.Remove(member);
                    model.Remove(member);
                    break;
                default:
                    while (set.TryExpire(now, out int expired, out uint incarnation))
                    {
                        var next = model.OrderBy(p => p.Value.Due).ThenBy(p => p.Key).First();
                        Assert.Equal(next.Key, expired);
                        Assert.Equal(next.Value.Incarnation, incarnation);
                        Assert.True(next.Value.Due <= now);
                        model.Remove(expired);
                    }
                    Assert.True(model.Count == 0 || model.Values.Min(v => v.Due) > now);
                    break;
            }
            Assert.Equal(model.Count, set.Count);
            Assert.Equal(model.Count == 0 ? long.MaxValue : model.Values.Min(v => v.Due), set.NextDue);
            if (step % 500 == 0)
            {
                // Records move when others are removed; whether one still wants confirmations must move with it.
                for (int m = 0; m < 300; m++)
                {
                    bool wants = model.TryGetValue(m, out var v) && v.Seen.Count <= 2;
                    Assert.Equal(wants, set.WantsConfirmations(m));
                    Assert.Equal(wants, set.FindWanting(m) >= 0);
                    Assert.Equal(model.ContainsKey(m), set.Find(m) >= 0);
                }
            }
        }
    }

    [Fact]
    public void With_no_expected_confirmations_the_timeout_is_the_minimum()
    {
        var set = new SuspicionSet(2);
        Assert.Equal(2_500, set.Start(1, 0, 10, k: 0, min: 2_000, max: 12_000, now: 500));
        Assert.False(set.WantsConfirmations(1));
        Assert.False(set.TryExpire(2_499, out _, out _));
        Assert.True(set.TryExpire(2_500, out int member, out _));
        Assert.Equal(1, member);
    }

    [Fact]
    public void Removing_keeps_the_others_intact_and_reachable()
    {
        var set = new SuspicionSet(2);
        for (int m = 0; m < 100; m++) set.Start(m, (uint)m, accuser: 1000 + m, k: 2, min: 10, max: 60, now: m);
        for (int m = 0; m < 100; m += 3) set.Remove(m);
        Assert.Equal(100 - 34, set.ActiveCount);
        for (int m = 0; m < 100; m++)
        {
            Assert.Equal(m % 3 != 0, set.TryGet(m, out uint incarnation));
            if (m % 3 != 0)
            {
                Assert.Equal((uint)m, incarnation);
                Assert.False(set.Confirm(m, 1000 + m, 0, out _)); // its own accuser, kept with it when it moved
                Assert.True(set.Confirm(m, 5, 0, out _));
            }
        }
    }

    [Fact]
    public void Checks_come_due_in_time_order_at_each_suspicions_due_time()
    {
        var set = new SuspicionSet(2);
        var random = new DeterministicRandom(3);
        var due = new Dictionary<int, long>();
        for (int m = 0; m < 300; m++) due[m] = set.Start(m, 0, accuser: 1000, k: 2, min: 100, max: 600, now: random.Next(1_000));
        for (int i = 0; i < 400; i++)
        {
            int m = random.Next(300);
            if (set.Confirm(m, 2000 + random.Next(5), now: 0, out long d)) due[m] = d;
        }
        for (int m = 0; m < 300; m += 7) set.Remove(m); // ended: its check still comes, the caller ignores it
        var expiredAt = new Dictionary<int, long>();
        for (long now = 0; now <= 2_000; now++)
            while (set.TryExpire(now, out int member, out _))
                if (member % 7 != 0) Assert.True(expiredAt.TryAdd(member, now));
        foreach ((int m, long d) in due)
            if (m % 7 != 0) Assert.Equal(d, expiredAt[m]);
        Assert.Equal(long.MaxValue, set.NextDue);
    }

    [Fact]
    public void A_confirmation_after_the_first_check_brings_the_timer_forward()
    {
        var set = new SuspicionSet(2);
        set.Start(1, 0, accuser: 10, k: 2, min: 100, max: 600, now: 0);
        Assert.False(set.TryExpire(100, out _, out _)); // not due yet: checked again at 600
        Assert.Equal(600, set.NextDue);
        Assert.True(set.Confirm(1, 11, now: 200, out long due));
        Assert.True(due < 600);
        Assert.Equal(Math.Max(due, 200), set.NextDue);
        Assert.True(set.TryExpire(set.NextDue, out int member, out _));
        Assert.Equal(1, member);
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

public class RumourListTests
{
    [Fact]
    public void A_rumour_list_reads_as_the_updates_it_stands_for_and_measures_as_the_codec_does()
    {
        var directory = new MemberDirectory();
        var meta = new MemberMeta("node-7", "10.0.0.7:7946", "", "", "region-0", "zone-0-0", 100, 1);
        int member = directory.GetOrAdd("node-7"), accuser = directory.GetOrAdd("node-12"), handle = directory.Intern(meta);
        Rumour[] rumours =
        [
            directory.Rumour(UpdateKind.Suspect, member, 3, accuser),
            directory.Rumour(UpdateKind.Alive, member, 4, accuser, handle),
            directory.Rumour(UpdateKind.Dead, member, 4, member),
        ];
        var list = new RumourList(directory, rumours);
        MemberUpdate[] updates =
        [
            new(UpdateKind.Suspect, "node-7", 3, "node-12", null),
            new(UpdateKind.Alive, "node-7", 4, "node-12", meta),
            new(UpdateKind.Dead, "node-7", 4, "node-7", null),
        ];
        Assert.Equal(updates, list);
        for (int i = 0; i < updates.Length; i++) Assert.Equal(GossipCodec.MeasureUpdate(updates[i]), rumours[i].Size);
        var message = new Gossip { SourceId = "node-12", Updates = list };
        Assert.Equal(GossipCodec.Measure(new Gossip { SourceId = "node-12", Updates = updates }), RumourList.Measure(message));
        Assert.True(directory.TryRumour(updates[1], out Rumour back));
        Assert.Equal((member, 4u, handle, UpdateKind.Alive), (back.Member, back.Incarnation, back.Meta, back.Kind));
    }
}
