using BlobCache.Node.Origin;
using BlobCache.Node.Peers;

namespace BlobCache.Node.Tests.Unit;

public sealed class PassThroughKeyTests
{
    public static TheoryData<PassThroughRead> Reads => new()
    {
        new PassThroughRead(PassThroughKind.ListBlobs, "data", null, "shards/épreuve &=?%", "/", "2!marker", 5000, ["metadata", "tags"]),
        new PassThroughRead(PassThroughKind.ListBlobs, "data", null, "", null, null, null, null),
        new PassThroughRead(PassThroughKind.ListContainers, Prefix: "d", MaxResults: 1, Include: ["metadata"]),
        new PassThroughRead(PassThroughKind.AccountInformation),
        new PassThroughRead(PassThroughKind.BlobTags, "data", "a/b c.bin"),
    };

    [Theory]
    [MemberData(nameof(Reads))]
    public void A_read_survives_the_trip_to_its_owner_as_its_key(PassThroughRead read)
    {
        PassThroughKey key = PassThroughKey.Of(read);
        PassThroughRead back = PassThroughKey.TryParse(key.Text, out string? error)!;
        Assert.Null(error);
        Assert.Equal(key, PassThroughKey.Of(back));
        Assert.Equal((read.Kind, read.Container, read.Blob, read.Prefix, read.Delimiter, read.Marker, read.MaxResults), (back.Kind, back.Container, back.Blob, back.Prefix, back.Delimiter, back.Marker, back.MaxResults));
        Assert.Equal(read.Include, back.Include);
    }

    [Fact]
    public void An_empty_include_is_the_same_read_as_none()
    {
        // include= with nothing after it: the SDKs send it, and it once made a key the owner could not read back.
        PassThroughKey key = PassThroughKey.Of(new PassThroughRead(PassThroughKind.ListContainers, Include: []));
        Assert.Equal(PassThroughKey.Of(new PassThroughRead(PassThroughKind.ListContainers)), key);
        Assert.NotNull(PassThroughKey.TryParse(key.Text, out _));
    }

    [Fact]
    public void An_empty_prefix_and_no_prefix_are_different_keys()
    {
        Assert.NotEqual(PassThroughKey.Of(new PassThroughRead(PassThroughKind.ListBlobs, "c", Prefix: "")), PassThroughKey.Of(new PassThroughRead(PassThroughKind.ListBlobs, "c")));
    }

    [Theory]
    [InlineData("4&=data&&&&&&", null)]
    [InlineData("4&=data&&&&&", "not eight fields")]
    [InlineData("99&&&&&&&", "an unknown kind")]
    [InlineData("4&=..&&&&&&", "a bad container name")]
    [InlineData("4&=data&&&&&=0&", "a bad maxresults")]
    [InlineData("4&=data&&&&&=5001&", "a bad maxresults")]
    [InlineData("4&=d%61ta&&&&&&", "a text that is not canonical")]
    [InlineData("4&data&&&&&&", "a field without '='")]
    public void A_key_a_peer_sends_is_taken_only_when_it_is_one_a_node_would_send(string text, string? why)
    {
        PassThroughRead? read = PassThroughKey.TryParse(text, out string? error);
        Assert.Equal(why, error);
        Assert.Equal(why is null, read is not null);
    }

    [Fact]
    public void A_listing_page_and_a_not_found_answer_survive_the_trip_between_peers()
    {
        var page = new PassThroughResult(new PassThroughAnswer([KeyValuePair.Create("Content-Type", "application/xml"), KeyValuePair.Create("x-ms-meta-ünï", "v")], "<EnumerationResults/>"u8.ToArray()));
        Assert.Null(PeerPassThrough.TryDecode(PeerPassThrough.Encode(page, TimeSpan.FromSeconds(2)), out PassThroughResult? back, out TimeSpan age));
        Assert.Equal(TimeSpan.FromSeconds(2), age);
        Assert.Equal(page.Answer!.Headers, back!.Answer!.Headers);
        Assert.Equal(page.Answer.Body, back.Answer.Body);

        var missing = PassThroughResult.NotFound(new OriginException(404, "ContainerNotFound", "The specified container does not exist."));
        Assert.Null(PeerPassThrough.TryDecode(PeerPassThrough.Encode(missing, TimeSpan.Zero), out back, out _));
        Assert.Equal((404, "ContainerNotFound", "The specified container does not exist.", (PassThroughAnswer?)null), (back!.Status, back.Code, back.Message, back.Answer));
    }

    [Fact]
    public void A_truncated_or_padded_passed_through_answer_is_refused()
    {
        byte[] wire = PeerPassThrough.Encode(new PassThroughResult(new PassThroughAnswer([KeyValuePair.Create("a", "b")], [1, 2, 3])), TimeSpan.Zero)!;
        for (int cut = 0; cut < wire.Length; cut++) Assert.NotNull(PeerPassThrough.TryDecode(wire.AsSpan(0, cut), out _, out _));
        Assert.NotNull(PeerPassThrough.TryDecode([.. wire, 0], out _, out _));
    }
}
