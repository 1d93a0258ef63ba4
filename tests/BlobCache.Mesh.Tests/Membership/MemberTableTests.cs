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
    public void A_fork_shares_pages_until_one_side_writes_then_copies_only_that_page()
    {
        var original = new MemberTable();
        for (int i = 0; i < 3 * MemberTable.PageSize; i++) original.Set(i, Alive((uint)i));

        MemberTable fork = original.Fork();
        Assert.True(fork.SharesPage(original, 0));
        Assert.True(fork.SharesPage(original, 2));

        fork.Set(MemberTable.PageSize + 5, Alive(999) with { State = MemberState.Suspect });

        Assert.True(fork.SharesPage(original, 0));
        Assert.False(fork.SharesPage(original, 1));
        Assert.True(fork.SharesPage(original, 2));
        Assert.Equal(MemberState.Alive, original.StateOf(MemberTable.PageSize + 5));
        Assert.Equal((uint)(MemberTable.PageSize + 5), original[MemberTable.PageSize + 5].Incarnation);
        Assert.Equal(MemberState.Suspect, fork.StateOf(MemberTable.PageSize + 5));
        Assert.Equal(1, fork.SuspectCount);
        Assert.Equal(0, original.SuspectCount);

        // Writing to the original after the fork must not leak into the fork either.
        original.Set(2, Alive(7) with { State = MemberState.Dead });
        Assert.Equal(MemberState.Alive, fork.StateOf(2));
    }

    [Fact]
    public void Equal_pages_of_separately_built_tables_are_held_once_after_sharing()
    {
        var pool = new PagePool();
        var tables = new List<MemberTable>();
        for (int t = 0; t < 50; t++)
        {
            var table = new MemberTable();
            for (int i = 0; i < 4 * MemberTable.PageSize; i++) table.Set(i, Alive((uint)i));
            if (t == 49) table.Set(10, Alive(77)); // one table differs in one page
            table.SharePages(pool);
            tables.Add(table);
        }

        Assert.Equal(5, pool.Count); // 4 common pages + 1 variant of page 0
        Assert.True(tables[0].SharesPage(tables[48], 0));
        Assert.False(tables[0].SharesPage(tables[49], 0));
        Assert.True(tables[0].SharesPage(tables[49], 1));

        // A shared page is copy-on-write: writing through one table leaves the others alone.
        tables[3].Set(1, Alive(5) with { State = MemberState.Dead });
        Assert.Equal(MemberState.Alive, tables[4].StateOf(1));
        Assert.Equal(MemberState.Dead, tables[3].StateOf(1));
    }
}
