using BlobCache.Mesh.Membership;
using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Tests.Membership;

public class MemberTableTests
{
    private static MemberEntry Alive(uint inc = 0, int meta = 1) => new() { Incarnation = inc, Meta = meta, State = MemberState.Alive };

    [Fact]
    public void Unset_entries_read_as_unknown_and_counts_follow_states()
    {
        var table = new MemberTable();
        Assert.Equal(MemberState.None, table.StateOf(12345));

        table.Set(0, Alive());
        table.Set(700, Alive());
        table.Set(3, Alive() with { State = MemberState.Suspect });
        Assert.Equal(2, table.AliveCount);
        Assert.Equal(1, table.SuspectCount);
        Assert.Equal(3, table.LiveCount);

        table.Set(700, Alive() with { State = MemberState.Dead });
        table.Set(3, Alive() with { State = MemberState.Left });
        Assert.Equal(1, table.AliveCount);
        Assert.Equal(0, table.SuspectCount);
        Assert.Equal(1, table.DeadCount);
        Assert.Equal(1, table.LeftCount);
        Assert.Equal(3, table.KnownCount);
    }

    [Fact]
    public void A_fork_shares_the_base_and_each_side_keeps_its_own_differences()
    {
        var original = new MemberTable();
        for (int i = 0; i < 3000; i++) original.Set(i, Alive((uint)i));
        original.Compact();
        Assert.Equal(0, original.DifferenceCount);

        MemberTable fork = original.Fork();
        Assert.Same(original.Base, fork.Base);
        fork.Set(1005, Alive(999) with { State = MemberState.Suspect });

        Assert.Same(original.Base, fork.Base);
        Assert.Equal(1, fork.DifferenceCount);
        Assert.Equal(MemberState.Alive, original.StateOf(1005));
        Assert.Equal(1005u, original[1005].Incarnation);
        Assert.Equal(MemberState.Suspect, fork.StateOf(1005));
        Assert.Equal(1, fork.SuspectCount);
        Assert.Equal(0, original.SuspectCount);

        // Writing to the original after the fork must not leak into the fork either.
        original.Set(2, Alive(7) with { State = MemberState.Dead });
        Assert.Equal(MemberState.Alive, fork.StateOf(2));

        // Writing back the base's value removes the difference.
        fork.Set(1005, Alive(1005));
        Assert.Equal(0, fork.DifferenceCount);
    }

    [Fact]
    public void Rebase_changes_no_entry_and_drops_differences_the_new_base_holds()
    {
        var seedTable = new MemberTable { CompactThreshold = int.MaxValue };
        for (int i = 0; i < 2000; i++) seedTable.Set(i, Alive());
        seedTable.Compact();
        var random = new DeterministicRandom(5);
        var views = new List<MemberTable>();
        for (int v = 0; v < 20; v++)
        {
            MemberTable view = seedTable.Fork();
            // Everyone learns that members 0..49 died; each view also has a few private changes.
            for (int i = 0; i < 50; i++) view.Set(i, Alive() with { State = MemberState.Dead });
            for (int k = 0; k < 5; k++) view.Set(random.Next(2000), Alive((uint)(v + 1)) with { State = MemberState.Suspect });
            views.Add(view);
        }
        MemberEntry[][] before = views.Select(v => Enumerable.Range(0, 2100).Select(i => v[i]).ToArray()).ToArray();
        int[] counts = views.Select(v => v.KnownCount * 1000 + v.SuspectCount).ToArray();

        long bytesBefore = views[1].DifferenceBytes;
        MemberBase next = views[0].Snapshot();
        List<int> changed = MemberBase.Differences(seedTable.Base, next);
        foreach (MemberTable view in views) view.Rebase(next, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(changed));

        for (int v = 0; v < views.Count; v++)
        {
            Assert.Equal(before[v], Enumerable.Range(0, 2100).Select(i => views[v][i]).ToArray());
            Assert.Equal(counts[v], views[v].KnownCount * 1000 + views[v].SuspectCount);
            // The 50 shared deaths are in the base now; only the private suspicions (and view 0's, in reverse) remain.
            Assert.InRange(views[v].DifferenceCount, 0, 10);
        }
        Assert.Equal(0, views[0].DifferenceCount);
        Assert.True(views[1].DifferenceBytes < bytesBefore / 4, "a view's difference map shrinks once the base holds most of it");
    }

    [Fact]
    public void A_view_rebased_onto_a_base_with_members_it_has_not_heard_of_keeps_a_bit_for_each_not_an_entry()
    {
        // A joiner that knows 10 members, rebased onto the fleet's base of 20,000: it still reads the other 19,990 as
        // unknown, for about a bit each, and learning them from a pull leaves nothing private.
        var fleet = new MemberTable { CompactThreshold = int.MaxValue };
        for (int i = 0; i < 20_000; i++) fleet.Set(i, Alive());
        fleet.Compact();
        var joiner = new MemberTable();
        for (int i = 0; i < 10; i++) joiner.Set(i, Alive());
        int[] changed = [.. MemberBase.Differences(joiner.Base, fleet.Base)];

        joiner.Rebase(fleet.Base, changed);

        Assert.Same(fleet.Base, joiner.Base);
        Assert.Equal(10, joiner.KnownCount);
        Assert.Equal(MemberState.None, joiner.StateOf(10));
        Assert.Equal(MemberState.Alive, joiner.StateOf(9));
        Assert.Equal(19_990, joiner.UnheardCount);
        Assert.InRange(joiner.DifferenceBytes, 1, 20_000 / 8 + 512); // the bits, and the map's few empty slots
        MemberBase flat = joiner.Snapshot();
        Assert.Equal(10, Enumerable.Range(0, flat.Length).Count(i => flat[i].State != MemberState.None));
        MemberTable fork = joiner.Fork();

        for (int i = 10; i < 20_000; i++) joiner.Set(i, Alive());
        Assert.Equal(0, joiner.DifferenceCount);
        Assert.InRange(joiner.DifferenceBytes, 0, 512); // the bits given back
        Assert.Equal(10, fork.KnownCount); // the fork kept its own bits
        Assert.Equal(MemberState.None, fork.StateOf(15_000));
    }

    [Fact]
    public void A_view_folds_many_differences_into_a_private_base()
    {
        var table = new MemberTable { CompactThreshold = 100 };
        for (int i = 0; i < 1000; i++) table.Set(i, Alive((uint)i));
        Assert.True(table.DifferenceCount <= 100);
        Assert.True(table.Base.Length >= 900);
        for (int i = 0; i < 1000; i++) Assert.Equal((uint)i, table[i].Incarnation);
        Assert.Equal(1000, table.AliveCount);
    }

    [Fact]
    public void Overlay_survives_heavy_insert_and_delete_against_a_reference()
    {
        var table = new MemberTable { CompactThreshold = int.MaxValue };
        var reference = new Dictionary<int, MemberEntry>();
        var random = new DeterministicRandom(11);
        for (int step = 0; step < 50_000; step++)
        {
            int index = random.Next(300);
            MemberEntry entry = random.Next(3) == 0 ? default : Alive((uint)random.Next(4));
            table.Set(index, entry);
            reference[index] = entry;
        }
        foreach ((int index, MemberEntry entry) in reference) Assert.Equal(entry, table[index]);
        Assert.Equal(reference.Values.Count(e => e.State == MemberState.Alive), table.AliveCount);
        Assert.Equal(reference.Values.Count(e => e.State != MemberState.None), table.DifferenceCount);
    }
}
