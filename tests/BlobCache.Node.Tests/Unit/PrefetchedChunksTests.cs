using BlobCache.Node.Reading;
using BlobCache.Node.Telemetry;
using BlobCache.Store;

namespace BlobCache.Node.Tests.Unit;

/// <summary>The references kept for the first readers of chunks read ahead: bounded, and never leaked.</summary>
public sealed class PrefetchedChunksTests
{
    private static ChunkId Id(int index) => new("devstoreaccount1", "data", "blob.bin", "\"etag\"", index);

    private static bool IsReleased(ChunkBuffer chunk)
    {
        try
        {
            _ = chunk.Span.Length;
            return false;
        }
        catch (ObjectDisposedException)
        {
            return true;
        }
    }

    [Fact]
    public void When_the_ring_is_full_the_oldest_chunk_held_is_given_back_and_the_rest_stay_held()
    {
        var ring = new PrefetchedChunks();
        ChunkBuffer[] chunks = [.. Enumerable.Range(0, PrefetchedChunks.Capacity + 1).Select(_ => ChunkBuffer.Rent(16))];
        for (int i = 0; i < chunks.Length; i++) ring.Remember(Id(i), ReadSource.Blob, chunks[i]);

        Assert.True(IsReleased(chunks[0]));
        Assert.False(ring.Contains(Id(0)));
        Assert.All(chunks.Skip(1), c => Assert.False(IsReleased(c)));
        ring.Dispose();
        Assert.All(chunks, c => Assert.True(IsReleased(c)));
    }

    [Fact]
    public void A_chunk_whose_reader_has_not_come_yet_stays_held_while_slots_taken_by_other_readers_are_free()
    {
        using var ring = new PrefetchedChunks();
        ChunkBuffer[] chunks = [.. Enumerable.Range(0, PrefetchedChunks.Capacity + 1).Select(_ => ChunkBuffer.Rent(16))];
        ring.Remember(Id(0), ReadSource.Blob, chunks[0]);
        ring.Remember(Id(1), ReadSource.Blob, chunks[1]);
        // Chunk 1's reader comes first (readers run at their own pace); chunk 0's is still on its way.
        Assert.True(ring.TryTake(Id(1), out _, out ChunkBuffer taken));
        taken.Release();
        for (int i = 2; i < chunks.Length; i++) ring.Remember(Id(i), ReadSource.Blob, chunks[i]);

        Assert.True(ring.Contains(Id(0)));
        Assert.False(IsReleased(chunks[0]));
        // Now the set is full: the next entry gives back the oldest, chunk 0.
        ring.Remember(Id(99), ReadSource.Blob, ChunkBuffer.Rent(16));
        Assert.False(ring.Contains(Id(0)));
        Assert.True(IsReleased(chunks[0]));
    }

    [Fact]
    public void The_first_reader_takes_the_held_reference_with_the_source_and_a_second_finds_nothing()
    {
        using var ring = new PrefetchedChunks();
        ChunkBuffer chunk = ChunkBuffer.Rent(16);
        ring.Remember(Id(3), ReadSource.Peer, chunk);

        Assert.True(ring.TryTake(Id(3), out ReadSource source, out ChunkBuffer held));
        Assert.Equal(ReadSource.Peer, source);
        Assert.Same(chunk, held);
        Assert.False(ring.TryTake(Id(3), out _, out _));
        ring.Dispose();
        Assert.False(IsReleased(chunk)); // the reader's now, not the ring's
        held.Release();
        Assert.True(IsReleased(chunk));
    }

    [Fact]
    public void Remembering_a_chunk_again_gives_back_the_reference_it_replaces()
    {
        using var ring = new PrefetchedChunks();
        ChunkBuffer first = ChunkBuffer.Rent(16), second = ChunkBuffer.Rent(16);
        ring.Remember(Id(1), ReadSource.Blob, first);
        ring.Remember(Id(1), ReadSource.Blob, second);
        Assert.True(IsReleased(first));
        Assert.False(IsReleased(second));
    }
}
