using System.IO.Hashing;
using BlobCache.Store;

namespace BlobCache.Store.Tests;

public class ChunkBufferTests
{
    [Fact]
    public void Seal_computes_the_checksum_and_freezes_the_content()
    {
        ChunkBuffer b = ChunkBuffer.Rent(1000);
        Assert.Equal(1000, b.Length);
        Assert.Throws<InvalidOperationException>(() => b.Checksum);
        b.Writable.Fill(7);
        b.Seal();
        Assert.Equal(XxHash3.HashToUInt64(b.Span), b.Checksum);
        Assert.True(b.Verify(b.Checksum));
        Assert.False(b.Verify(b.Checksum + 1));
        Assert.Throws<InvalidOperationException>(() => b.Writable.Length);
        Assert.Equal(1000, b.Memory.Length);
        b.Release();
    }

    [Fact]
    public void Reference_counting()
    {
        ChunkBuffer b = ChunkBuffer.Rent(16);
        b.Seal();
        Assert.True(b.TryAddRef());   // 2
        b.Release();                  // 1
        Assert.Equal(16, b.Span.Length);
        b.Release();                  // 0: back to the pool
        Assert.False(b.TryAddRef());
        Assert.Throws<ObjectDisposedException>(() => b.Span.Length);
        Assert.Throws<ObjectDisposedException>(() => b.Memory);
        Assert.Throws<InvalidOperationException>(b.Release);
    }

    [Fact]
    public void Concurrent_add_and_release_balance()
    {
        ChunkBuffer b = ChunkBuffer.Rent(8);
        b.Seal();
        Parallel.For(0, 4, _ =>
        {
            for (int i = 0; i < 10_000; i++)
            {
                Assert.True(b.TryAddRef());
                b.Release();
            }
        });
        Assert.Equal(1, b.RefCount);
        b.Release();
        Assert.False(b.TryAddRef());
    }
}
