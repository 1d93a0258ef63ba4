using System.Text;
using BlobCache.Http;

namespace BlobCache.Node.Tests.Http;

public sealed class RequestBodyTests
{
    [Fact]
    public async Task A_kept_body_reads_back_whole_and_a_stream_left_open_fails_once_the_request_ends()
    {
        var body = new RequestBody();
        body.Start(0, discard: false); // chunked: grown as it arrives
        byte[] data = new byte[200_000];
        new Random(3).NextBytes(data);
        for (int at = 0; at < data.Length; at += 7_000) body.Append(data.AsSpan(at, Math.Min(7_000, data.Length - at)));
        Stream stream = body.OpenRead();
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        Assert.Equal(data, copy.ToArray());
        body.Clear();
        Assert.Throws<ObjectDisposedException>(() => stream.ReadByte());
    }

    [Fact]
    public void A_dropped_body_is_counted_and_keeps_nothing()
    {
        var body = new RequestBody();
        body.Start(11, discard: true);
        body.Append(Encoding.ASCII.GetBytes("hello world"));
        Assert.Equal(11, body.Length);
        Assert.True(body.Kept.IsEmpty);
        Assert.Same(Stream.Null, body.OpenRead());
    }
}
