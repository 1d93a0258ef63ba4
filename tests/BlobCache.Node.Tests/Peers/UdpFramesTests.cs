using System.Buffers.Binary;
using BlobCache.Node.Peers.Udp;

namespace BlobCache.Node.Tests.Peers;

/// <summary>The UDP transport's frame format: round trips and every rejection rule (tests/BlobCache.Fuzz fuzzes the decoder).</summary>
public sealed class UdpFramesTests
{
    private static readonly UdpFetch SampleFetch = new("devstoreaccount1", "dataset", "big/forty ünïcode.bin", "\"0x8DC1234\"", 7, 40L * 1024 * 1024 + 12345, Fill: true, WarmOnly: false, From: "node-a");

    private static byte[] Encode(Func<byte[], int> write)
    {
        byte[] buffer = new byte[UdpFrames.MaxFrameBytes + 64];
        int n = write(buffer);
        return buffer[..n];
    }

    private static byte[] Piece(uint id, int offset, int length, byte fill = 0xAB)
    {
        byte[] frame = new byte[UdpFrames.PieceHeaderBytes + length];
        int h = UdpFrames.WritePieceHeader(frame, id, offset);
        frame.AsSpan(h).Fill(fill);
        return frame;
    }

    private static List<byte[]> ValidFrames() =>
    [
        Encode(b => UdpFrames.WriteFetch(b, 1, SampleFetch)),
        Encode(b => UdpFrames.WriteFetch(b, 2, SampleFetch with { Fill = false, WarmOnly = true, Index = 0, From = "" })),
        Encode(b => UdpFrames.WriteAccepted(b, 3)),
        Encode(b => UdpFrames.WriteCancel(b, 4)),
        Encode(b => UdpFrames.WriteOk(b, 5, 4 * 1024 * 1024, 0x0123456789ABCDEF, 2)),
        Encode(b => UdpFrames.WriteNotFound(b, 6)),
        Encode(b => UdpFrames.WriteError(b, 7, "origin said 503 ServerBusy")),
        Piece(8, 65536, 100),
        Piece(9, 0, 1),
    ];

    [Fact]
    public void Every_kind_round_trips()
    {
        byte[] fetch = Encode(b => UdpFrames.WriteFetch(b, 42, SampleFetch));
        Assert.True(UdpFrames.TryDecode(fetch, out UdpFrame f, out string? error), error);
        Assert.Equal(UdpFrameKind.Fetch, f.Kind);
        Assert.Equal(42u, f.RequestId);
        Assert.Equal(SampleFetch, f.Fetch);

        Assert.True(UdpFrames.TryDecode(Encode(b => UdpFrames.WriteOk(b, uint.MaxValue, 123, 0xFEEDFACECAFEBEEF, 1)), out f, out error), error);
        Assert.Equal((UdpFrameKind.Answer, UdpAnswerStatus.Ok, uint.MaxValue, 123, 0xFEEDFACECAFEBEEFUL, "disk"), (f.Kind, f.Status, f.RequestId, f.Length, f.Checksum, f.Source));

        Assert.True(UdpFrames.TryDecode(Encode(b => UdpFrames.WriteNotFound(b, 5)), out f, out _));
        Assert.Equal(UdpAnswerStatus.NotFound, f.Status);

        Assert.True(UdpFrames.TryDecode(Encode(b => UdpFrames.WriteError(b, 5, "no")), out f, out _));
        Assert.Equal((UdpAnswerStatus.Error, "no"), (f.Status, f.Message));

        Assert.True(UdpFrames.TryDecode(Encode(b => UdpFrames.WriteAccepted(b, 9)), out f, out _));
        Assert.Equal((UdpFrameKind.Accepted, 9u), (f.Kind, f.RequestId));
        Assert.True(UdpFrames.TryDecode(Encode(b => UdpFrames.WriteCancel(b, 10)), out f, out _));
        Assert.Equal((UdpFrameKind.Cancel, 10u), (f.Kind, f.RequestId));

        byte[] piece = Piece(11, 4096, UdpFrames.PieceBytes, 0x5A);
        Assert.True(UdpFrames.TryDecode(piece, out f, out _));
        Assert.Equal((UdpFrameKind.Piece, 11u, 4096, UdpFrames.PieceBytes), (f.Kind, f.RequestId, f.Offset, f.Data.Length));
        Assert.True(f.Data.IndexOfAnyExcept((byte)0x5A) < 0);
        Assert.True(UdpFrames.TryDecode(Piece(12, 0, UdpFrames.MaxPieceBytes), out _, out _));
    }

    [Fact]
    public void An_error_message_over_the_cap_is_cut_not_refused()
    {
        byte[] frame = Encode(b => UdpFrames.WriteError(b, 1, new string('é', 5000)));
        Assert.True(UdpFrames.TryDecode(frame, out UdpFrame f, out _));
        Assert.True(f.Message!.Length is > 0 and <= UdpFrames.MaxMessageBytes);
    }

    [Fact]
    public void A_fetch_field_over_its_cap_is_a_local_error_not_a_frame()
    {
        Assert.Throws<ArgumentException>(() => Encode(b => UdpFrames.WriteFetch(b, 1, SampleFetch with { Blob = new string('x', UdpFrames.MaxBlobBytes + 1) })));
    }

    [Fact]
    public void Every_truncation_of_every_valid_frame_is_refused()
    {
        foreach (byte[] frame in ValidFrames())
        {
            for (int n = 0; n < frame.Length; n++)
            {
                // A piece cut after at least one data byte is still a valid (shorter) piece: that is what its length is.
                if (frame[1] == (byte)UdpFrameKind.Piece && n > UdpFrames.PieceHeaderBytes) continue;
                Assert.False(UdpFrames.TryDecode(frame.AsSpan(0, n), out _, out string? error), $"kind {frame[1]} cut to {n} bytes decoded");
                Assert.NotNull(error);
            }
        }
    }

    [Theory]
    [InlineData("version")]
    [InlineData("kind")]
    [InlineData("trailing")]
    [InlineData("flags")]
    [InlineData("index")]
    [InlineData("blob-length")]
    [InlineData("string-cap")]
    [InlineData("utf8")]
    [InlineData("status")]
    [InlineData("source")]
    [InlineData("chunk-length")]
    [InlineData("offset")]
    [InlineData("piece-too-long")]
    [InlineData("too-long")]
    public void Each_rule_refuses_its_violation(string rule)
    {
        byte[] fetch = Encode(b => UdpFrames.WriteFetch(b, 1, SampleFetch));
        byte[] ok = Encode(b => UdpFrames.WriteOk(b, 1, 100, 1, 0));
        byte[] bad = rule switch
        {
            "version" => With(fetch, 0, 2),
            "kind" => With(Encode(b => UdpFrames.WriteAccepted(b, 1)), 1, 9),
            "trailing" => [.. Encode(b => UdpFrames.WriteCancel(b, 1)), 0],
            "flags" => With(fetch, 6, 4),
            "index" => WithInt64(fetch, 7, -1),
            "blob-length" => WithInt64(fetch, 15, 0),
            // The account's length prefix, set past its cap (the bytes are there: the container follows).
            "string-cap" => WithUInt16(fetch, 23, UdpFrames.MaxAccountBytes + 1),
            "utf8" => With(fetch, 25, 0xFF),
            "status" => With(ok, 6, 3),
            "source" => With(ok, 19, 3),
            "chunk-length" => WithInt32(ok, 7, -5),
            "offset" => WithInt32(Piece(1, 0, 10), 6, -1),
            "piece-too-long" => Piece(1, 0, UdpFrames.MaxPieceBytes + 1),
            "too-long" => new byte[UdpFrames.MaxFrameBytes + 1],
            _ => throw new ArgumentOutOfRangeException(nameof(rule)),
        };
        Assert.False(UdpFrames.TryDecode(bad, out _, out string? error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    private static byte[] With(byte[] frame, int at, byte value)
    {
        byte[] copy = (byte[])frame.Clone();
        copy[at] = value;
        return copy;
    }

    private static byte[] WithInt64(byte[] frame, int at, long value)
    {
        byte[] copy = (byte[])frame.Clone();
        BinaryPrimitives.WriteInt64LittleEndian(copy.AsSpan(at), value);
        return copy;
    }

    private static byte[] WithInt32(byte[] frame, int at, int value)
    {
        byte[] copy = (byte[])frame.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(copy.AsSpan(at), value);
        return copy;
    }

    private static byte[] WithUInt16(byte[] frame, int at, int value)
    {
        byte[] copy = (byte[])frame.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(copy.AsSpan(at), (ushort)value);
        return copy;
    }
}
