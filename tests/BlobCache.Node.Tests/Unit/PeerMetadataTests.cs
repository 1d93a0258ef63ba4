using BlobCache.Node.Origin;
using BlobCache.Node.Peers;

namespace BlobCache.Node.Tests.Unit;

public sealed class PeerMetadataTests
{
    [Fact]
    public void Every_property_Get_Blob_Properties_returns_survives_the_trip_between_peers()
    {
        var details = new BlobDetails("gzip", "en-GB", "max-age=60", "attachment; filename=\"a b.bin\"",
            new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { ["Owner"] = "ml-platform", ["ünïcode"] = "välue" },
            new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero), "Hot", AccessTierInferred: true, ServerEncrypted: true);
        var info = new BlobInfo(123_456_789, "\"0x8DC\"", new DateTimeOffset(2026, 5, 6, 7, 8, 9, TimeSpan.Zero), "application/x-tar", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], details);
        byte[] wire = new PeerMetadata(PeerMetadataKind.Found, info, TimeSpan.FromMilliseconds(1234)).Encode()!;

        Assert.Null(PeerMetadata.TryDecode(wire, out PeerMetadata back));
        Assert.Equal((PeerMetadataKind.Found, TimeSpan.FromMilliseconds(1234)), (back.Kind, back.Age));
        BlobInfo got = back.Info!;
        Assert.Equal((info.Length, info.ETag, info.LastModified, info.ContentType, info.ContentMd5Text), (got.Length, got.ETag, got.LastModified, got.ContentType, got.ContentMd5Text));
        Assert.Equal(info.PropertyHeaders, got.PropertyHeaders);
        Assert.Equal(info.TierHeaders, got.TierHeaders);
    }

    [Fact]
    public void A_string_longer_than_its_length_field_makes_no_answer_rather_than_a_cut_one()
    {
        string huge = new('x', ushort.MaxValue);
        var details = new BlobDetails(null, null, null, null, new Dictionary<string, string> { ["note"] = huge }, null, null, false, false);
        var info = new BlobInfo(1, "\"e\"", DateTimeOffset.UnixEpoch, "text/plain", null, details);
        // A cut value would be a different value served as Blob's: the asker asks elsewhere instead.
        Assert.Null(new PeerMetadata(PeerMetadataKind.Found, info, TimeSpan.Zero).Encode());
        Assert.Null(PeerPassThrough.Encode(new PassThroughResult(new PassThroughAnswer([KeyValuePair.Create("x-ms-meta-note", huge)], [])), TimeSpan.Zero));
        Assert.NotNull(PeerPassThrough.Encode(new PassThroughResult(new PassThroughAnswer([KeyValuePair.Create("x-ms-meta-note", huge[1..])], [])), TimeSpan.Zero));
    }

    [Theory]
    [InlineData(PeerMetadataKind.NoBlob)]
    [InlineData(PeerMetadataKind.NoContainer)]
    public void An_absent_blob_or_container_is_an_answer_too(PeerMetadataKind kind)
    {
        Assert.Null(PeerMetadata.TryDecode(new PeerMetadata(kind, null, TimeSpan.Zero).Encode(), out PeerMetadata back));
        Assert.Equal((kind, (BlobInfo?)null), (back.Kind, back.Info));
    }

    [Fact]
    public void A_truncated_or_padded_answer_is_refused_with_a_reason()
    {
        byte[] wire = new PeerMetadata(PeerMetadataKind.Found, new BlobInfo(5, "\"e\"", DateTimeOffset.UnixEpoch, "text/plain", null), TimeSpan.Zero).Encode()!;
        for (int cut = 0; cut < wire.Length; cut++) Assert.NotNull(PeerMetadata.TryDecode(wire.AsSpan(0, cut), out _));
        Assert.NotNull(PeerMetadata.TryDecode([.. wire, 0], out _));
        byte[] negative = (byte[])wire.Clone();
        negative[9 + 7] = 0x80; // the length's top byte: a negative length
        Assert.Contains("negative length", PeerMetadata.TryDecode(negative, out _));
    }
}
