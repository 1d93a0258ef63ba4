using BlobCache.Node.Peers;

namespace BlobCache.Node.Tests.Unit;

public sealed class PeerHoldersTests
{
    [Fact]
    public void Holders_round_trip_and_ids_that_cannot_be_carried_are_left_out()
    {
        var holders = new PeerHolders();
        Assert.True(holders.TryAdd("node-a"));
        Assert.False(holders.TryAdd(""));
        Assert.False(holders.TryAdd(new string('x', PeerHolders.MaxIdBytes + 1)));
        Assert.True(holders.TryAdd("nœud-b"));
        byte[] encoded = new byte[holders.EncodedBytes];
        Assert.Equal(encoded.Length, holders.Encode(encoded));

        Assert.Null(PeerHolders.TryDecode(encoded, out PeerHolders back));
        Assert.Equal(2, back.Count);
        Assert.Equal(("node-a", "nœud-b"), (back[0], back[1]));
    }

    [Fact]
    public void At_most_four_holders_fit_and_the_largest_list_fits_its_bound()
    {
        var holders = new PeerHolders();
        for (int i = 0; i < PeerHolders.MaxIds; i++) Assert.True(holders.TryAdd(new string((char)('a' + i), PeerHolders.MaxIdBytes)));
        Assert.False(holders.TryAdd("one-more"));
        Assert.Equal(PeerHolders.MaxEncodedBytes, holders.EncodedBytes);
    }

    [Theory]
    [InlineData(new byte[0], "no holder count")]
    [InlineData(new byte[] { 5 }, "more than 4")]
    [InlineData(new byte[] { 1 }, "past the end")]
    [InlineData(new byte[] { 1, 0 }, "of 0 bytes")]
    [InlineData(new byte[] { 1, 201 }, "of 201 bytes")]
    [InlineData(new byte[] { 1, 3, (byte)'a', (byte)'b' }, "past the end")]
    [InlineData(new byte[] { 1, 1, 0xFF }, "not UTF-8")]
    [InlineData(new byte[] { 1, 1, (byte)'a', 0 }, "trailing bytes")]
    public void A_malformed_list_is_refused_with_a_reason(byte[] input, string reason)
    {
        string? error = PeerHolders.TryDecode(input, out PeerHolders holders);
        Assert.NotNull(error);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }
}
