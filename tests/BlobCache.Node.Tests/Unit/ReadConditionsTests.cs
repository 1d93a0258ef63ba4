using BlobCache.Node.Endpoint;
using BlobCache.Node.Origin;
using Microsoft.AspNetCore.Http;

namespace BlobCache.Node.Tests.Unit;

public sealed class ReadConditionsTests
{
    private static readonly BlobInfo Blob = new(10, "\"0x1\"", new DateTimeOffset(2024, 6, 1, 12, 0, 0, TimeSpan.Zero), "application/octet-stream", null);

    private static ReadVerdict Check(BlobInfo? info, params (string Name, string Value)[] headers)
    {
        var h = new HeaderDictionary();
        foreach ((string name, string value) in headers) h[name] = value;
        return ReadConditions.From(h).Check(info);
    }

    [Theory]
    [InlineData("If-Match", "\"0x1\"", ReadVerdict.Pass)]
    [InlineData("If-Match", "\"0x2\"", ReadVerdict.Failed)]
    [InlineData("If-Match", "*", ReadVerdict.Pass)]
    [InlineData("If-None-Match", "\"0x1\"", ReadVerdict.NotModified)]
    [InlineData("If-None-Match", "\"0x2\"", ReadVerdict.Pass)]
    [InlineData("If-None-Match", "*", ReadVerdict.Unsatisfiable)]
    [InlineData("If-Modified-Since", "Sat, 01 Jun 2024 12:00:00 GMT", ReadVerdict.NotModified)]
    [InlineData("If-Modified-Since", "Sat, 01 Jun 2024 11:59:59 GMT", ReadVerdict.Pass)]
    [InlineData("If-Unmodified-Since", "Sat, 01 Jun 2024 12:00:00 GMT", ReadVerdict.Pass)]
    [InlineData("If-Unmodified-Since", "Sat, 01 Jun 2024 11:59:59 GMT", ReadVerdict.Failed)]
    [InlineData("If-Modified-Since", "not a date", ReadVerdict.Pass)]
    public void Each_condition_alone_decides_as_Blob_does(string name, string value, ReadVerdict verdict) =>
        Assert.Equal(verdict, Check(Blob, (name, value)));

    [Fact]
    public void A_304_needs_every_read_condition_sent_to_say_not_modified()
    {
        // Modified since (passes) wins over an If-None-Match that matches, and the other way round.
        Assert.Equal(ReadVerdict.Pass, Check(Blob, ("If-None-Match", "\"0x1\""), ("If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT")));
        Assert.Equal(ReadVerdict.Pass, Check(Blob, ("If-None-Match", "\"0x2\""), ("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT")));
        Assert.Equal(ReadVerdict.NotModified, Check(Blob, ("If-None-Match", "\"0x1\""), ("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT")));
    }

    [Fact]
    public void A_failed_If_Match_is_a_412_even_when_a_304_condition_also_holds() =>
        Assert.Equal(ReadVerdict.Failed, Check(Blob, ("If-Match", "\"0x2\""), ("If-None-Match", "\"0x1\"")));

    [Fact]
    public void On_a_missing_blob_If_Match_fails_and_other_conditions_leave_the_404()
    {
        Assert.Equal(ReadVerdict.Failed, Check(null, ("If-Match", "\"0x1\"")));
        Assert.Equal(ReadVerdict.Unsatisfiable, Check(null, ("If-None-Match", "*")));
        Assert.Equal(ReadVerdict.Pass, Check(null, ("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT")));
    }
}
