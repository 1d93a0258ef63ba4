using BlobCache.Mesh.Reading;

namespace BlobCache.Mesh.Tests.Reading;

public class OwnerSideTests
{
    [Theory]
    [InlineData(true, true, 0, 2, OwnerAction.Send)]
    [InlineData(true, false, 1, 2, OwnerAction.Send)]
    [InlineData(true, true, 2, 2, OwnerAction.Busy)]
    [InlineData(false, true, 2, 2, OwnerAction.Fill)]
    [InlineData(false, false, 0, 2, OwnerAction.NotHere)]
    public void An_owner_sends_within_its_slots_is_busy_beyond_them_and_fills_only_when_asked(bool held, bool fill, int sending, int max, OwnerAction expected) =>
        Assert.Equal(expected, OwnerPolicy.Decide(held, fill, sending, max));

    [Fact]
    public void Recent_holders_are_listed_newest_first_without_the_asker_and_bounded_per_chunk()
    {
        var holders = new RecentHolders(keys: 8, perKey: 3);
        foreach (int m in new[] { 1, 2, 3, 2, 4 }) holders.Add(7, m);
        Span<int> into = stackalloc int[8];
        Assert.Equal([4, 3, 2], into[..holders.CopyTo(7, into)].ToArray());
        Assert.Equal([4, 2], into[..holders.CopyTo(7, into, exclude: 3)].ToArray());
        Assert.Equal(0, holders.CopyTo(8, into));
    }

    [Fact]
    public void The_oldest_chunk_is_forgotten_first_when_the_table_is_full()
    {
        var holders = new RecentHolders(keys: 2, perKey: 2);
        holders.Add(1, 10);
        holders.Add(2, 20);
        holders.Add(3, 30);
        Span<int> into = stackalloc int[4];
        Assert.Equal(0, holders.CopyTo(1, into));
        Assert.Equal(1, holders.CopyTo(2, into));
        Assert.Equal(1, holders.CopyTo(3, into));
        Assert.Equal(2, holders.Keys);
    }

    [Fact]
    public void A_forgotten_member_is_no_longer_named_and_the_order_of_the_rest_holds()
    {
        var holders = new RecentHolders(keys: 4, perKey: 4);
        foreach (int m in new[] { 1, 2, 3 }) holders.Add(5, m);
        holders.Forget(2);
        Span<int> into = stackalloc int[4];
        Assert.Equal([3, 1], into[..holders.CopyTo(5, into)].ToArray());
        holders.Add(5, 9);
        Assert.Equal([9, 3, 1], into[..holders.CopyTo(5, into)].ToArray());
    }

    [Fact]
    public void Busy_answers_in_a_row_name_every_recent_holder_in_turn_not_the_newest_few_each_time()
    {
        var holders = new RecentHolders(keys: 4, perKey: 6);
        foreach (int m in new[] { 1, 2, 3, 4, 5, 6 }) holders.Add(9, m);
        Span<int> into = stackalloc int[4];
        Assert.Equal([6, 5, 4, 3], into[..holders.NextHolders(9, into)].ToArray());
        Assert.Equal([2, 1, 6, 5], into[..holders.NextHolders(9, into)].ToArray());
        Assert.Equal([4, 3, 1, 6], into[..holders.NextHolders(9, into, exclude: 2)].ToArray());
        Assert.Equal(0, holders.NextHolders(10, into));
    }
}
