using System.Buffers;
using BlobCache.Node.Peers.Tcp;
using BlobCache.Store;

namespace BlobCache.Node.Tests.Unit;

public sealed class TcpFramesTests
{
    private static readonly ChunkId Id = new("devstoreaccount1", "data", "dir/ünïcode name.bin", "\"0x8DC\"", 7);

    private static byte[] Request(bool fill, bool warm)
    {
        byte[] b = new byte[TcpFrames.RequestBytes(Id, "node-a")];
        Assert.Equal(b.Length, TcpFrames.WriteRequest(b, Id, 123_456_789, fill, warm, "node-a"));
        return b;
    }

    [Fact]
    public void A_request_reads_back_as_written_even_split_across_segments_and_followed_by_the_next()
    {
        byte[] one = Request(fill: true, warm: false), two = Request(fill: false, warm: true);
        byte[] both = [.. one, .. two];
        // Split in the middle of the first request's names: the reader must join segments.
        var first = new Segment(both.AsMemory(0, 30));
        Segment last = first.Append(both.AsMemory(30));
        var buffer = new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);

        Assert.True(TcpFrames.TryReadRequest(ref buffer, out TcpFetch? a, out string? error));
        Assert.Null(error);
        Assert.Equal(new TcpFetch(Id, 123_456_789, true, false, "node-a"), a);
        Assert.True(TcpFrames.TryReadRequest(ref buffer, out TcpFetch? b, out _));
        Assert.Equal(new TcpFetch(Id, 123_456_789, false, true, "node-a"), b);
        Assert.True(buffer.IsEmpty);
    }

    [Fact]
    public void A_partial_request_waits_for_more_and_a_broken_one_is_an_error()
    {
        byte[] one = Request(fill: true, warm: false);
        var partial = new ReadOnlySequence<byte>(one, 0, one.Length - 1);
        Assert.False(TcpFrames.TryReadRequest(ref partial, out _, out string? error));
        Assert.Null(error);

        byte[] huge = [0xff, 0xff, 0xff, 0x7f, 0];
        var h = new ReadOnlySequence<byte>(huge);
        Assert.False(TcpFrames.TryReadRequest(ref h, out _, out error));
        Assert.NotNull(error);

        // A name length that runs past the body.
        byte[] bad = (byte[])one.Clone();
        bad[4 + 17] = 0xff;
        bad[4 + 18] = 0x0f;
        var b = new ReadOnlySequence<byte>(bad);
        Assert.False(TcpFrames.TryReadRequest(ref b, out _, out error));
        Assert.NotNull(error);
    }

    [Fact]
    public void An_answer_header_reads_back_as_written()
    {
        byte[] a = new byte[TcpFrames.AnswerBytes];
        TcpFrames.WriteAnswer(a, TcpStatus.Ok, 1, 4 << 20, 0xfeedface_cafebeef);
        Assert.Equal((TcpStatus.Ok, (byte)1, 4 << 20, 0xfeedface_cafebeefUL), TcpFrames.ReadAnswer(a));
        Assert.Equal("disk", TcpFrames.SourceName(1));
    }
}
