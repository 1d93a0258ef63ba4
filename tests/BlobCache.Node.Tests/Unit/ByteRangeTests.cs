using BlobCache.Node.Endpoint;

namespace BlobCache.Node.Tests.Unit;

public sealed class ByteRangeTests
{
    [Theory]
    [InlineData("bytes=0-99", 1000, RangeKind.Partial, 0, 100)]
    [InlineData("bytes=990-2000", 1000, RangeKind.Partial, 990, 10)]
    [InlineData("bytes=500-", 1000, RangeKind.Partial, 500, 500)]
    [InlineData("bytes=-10", 1000, RangeKind.Partial, 990, 10)]
    [InlineData("bytes=-5000", 1000, RangeKind.Partial, 0, 1000)]
    [InlineData("bytes=999-999", 1000, RangeKind.Partial, 999, 1)]
    [InlineData("bytes=1000-", 1000, RangeKind.Unsatisfiable, 0, 0)]
    [InlineData("bytes=-0", 1000, RangeKind.Unsatisfiable, 0, 0)]
    [InlineData("bytes=0-", 0, RangeKind.Unsatisfiable, 0, 0)]
    [InlineData("bytes=5-3", 1000, RangeKind.Invalid, 0, 0)]
    [InlineData("bytes=0-1,5-6", 1000, RangeKind.Multiple, 0, 0)]
    [InlineData("items=0-1", 1000, RangeKind.Invalid, 0, 0)]
    [InlineData("bytes=a-b", 1000, RangeKind.Invalid, 0, 0)]
    [InlineData("bytes=99999999999999999999-", 1000, RangeKind.Invalid, 0, 0)]
    public void X_ms_range_is_resolved_like_Blob(string header, long length, RangeKind kind, long start, long count)
    {
        ByteRange r = ByteRange.Resolve(header, "", length);
        Assert.Equal(kind, r.Kind);
        if (kind == RangeKind.Partial)
        {
            Assert.Equal(start, r.Start);
            Assert.Equal(count, r.Length);
        }
    }

    [Fact]
    public void A_malformed_standard_Range_is_ignored_but_x_ms_range_wins_when_present()
    {
        Assert.Equal(new ByteRange(RangeKind.Whole, 0, 1000), ByteRange.Resolve("", "bytes=9-3", 1000));
        Assert.Equal(new ByteRange(RangeKind.Whole, 0, 1000), ByteRange.Resolve("", "", 1000));
        Assert.Equal(new ByteRange(RangeKind.Partial, 10, 5), ByteRange.Resolve("bytes=10-14", "bytes=0-1", 1000));
    }

    [Fact]
    public void Several_ranges_are_refused_in_either_header_not_served_as_the_whole_blob()
    {
        Assert.Equal(RangeKind.Multiple, ByteRange.Resolve("", "bytes=0-1,5-6", 1000).Kind);
        Assert.Equal(RangeKind.Multiple, ByteRange.Resolve("bytes=0-1, 5-6", "", 1000).Kind);
    }

    [Theory]
    [InlineData("bytes=0-1023", "", 4206649, true)]
    [InlineData("bytes=0-4194303", "", 4206649, true)]
    [InlineData("bytes=0-4194304", "", 4206649, false)]
    [InlineData("", "bytes=12345-4206648", 4206649, true)]
    [InlineData("", "", 4206649, false)]
    [InlineData("bytes=100-", "", 4206649, false)]
    public void A_range_MD5_is_given_only_for_an_explicit_range_of_at_most_4_MiB(string msRange, string range, long length, bool carries) =>
        Assert.Equal(carries, ByteRange.Resolve(msRange, range, length).CanCarryMd5);
}
