using BlobCache.Mesh.Placement;
using BlobCache.Mesh.Reading;

namespace BlobCache.Mesh.Tests.Reading;

public class OneChunkBlobTests
{
    private const int Chunk = 1 << 20;

    [Fact]
    public void A_blob_of_one_chunk_is_placed_by_its_blob_key_and_any_other_chunk_by_its_own()
    {
        ulong blob = StableHash.BlobKey("c", "b");
        ulong chunk = StableHash.ChunkKey(blob, 0);
        Assert.Equal(blob, OneChunkBlob.PlacementKey(chunk, blob, 4096, Chunk));
        Assert.Equal(blob, OneChunkBlob.PlacementKey(chunk, blob, Chunk, Chunk));
        Assert.Equal(chunk, OneChunkBlob.PlacementKey(chunk, blob, Chunk + 1, Chunk));
        Assert.Equal(chunk, OneChunkBlob.PlacementKey(chunk, blob, 0, Chunk)); // an empty blob has no chunk to place
    }

    [Fact]
    public void So_the_metadata_owner_of_a_small_blob_is_its_chunks_owner()
    {
        RegionPlacement region = RegionPlacement.Build(Enumerable.Range(0, 50).Select(i => new PlacementMember(i, StableHash.Of($"n{i}"), 100)).ToArray());
        for (int b = 0; b < 100; b++)
        {
            ulong blob = StableHash.BlobKey("c", $"small-{b}");
            Assert.Equal(region.Owner(blob), region.Owner(OneChunkBlob.PlacementKey(StableHash.ChunkKey(blob, 0), blob, 4096, Chunk)));
        }
    }

    [Fact]
    public void An_answer_carries_the_bytes_only_when_asked_for_a_one_chunk_blob_and_fills_them_only_as_its_owner()
    {
        Assert.Equal(OwnerAction.Send, OneChunkBlob.Content(wanted: true, 4096, Chunk, held: true, direct: false));
        Assert.Equal(OwnerAction.Fill, OneChunkBlob.Content(wanted: true, 4096, Chunk, held: false, direct: true));
        Assert.Equal(OwnerAction.NotHere, OneChunkBlob.Content(wanted: true, 4096, Chunk, held: false, direct: false)); // a deputy does not fill
        Assert.Equal(OwnerAction.NotHere, OneChunkBlob.Content(wanted: false, 4096, Chunk, held: true, direct: true));
        Assert.Equal(OwnerAction.NotHere, OneChunkBlob.Content(wanted: true, Chunk + 1, Chunk, held: true, direct: true));
        Assert.Equal(OwnerAction.NotHere, OneChunkBlob.Content(wanted: true, 0, Chunk, held: true, direct: true));
        // Bounded whatever the chunk size: a 4 MiB blob in 64 MiB chunks lives with its properties but is not carried.
        Assert.Equal(OwnerAction.NotHere, OneChunkBlob.Content(wanted: true, 4 << 20, 64 << 20, held: true, direct: true));
        Assert.Equal(OwnerAction.Send, OneChunkBlob.Content(wanted: true, OneChunkBlob.MaxCarriedBytes, 64 << 20, held: true, direct: true));
    }
}
