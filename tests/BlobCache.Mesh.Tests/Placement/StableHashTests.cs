using System.Text;
using BlobCache.Mesh.Placement;

namespace BlobCache.Mesh.Tests.Placement;

public class StableHashTests
{
    // Pinned values: StableHash decides ownership on every node, so it is part of the wire contract.
    [Fact]
    public void Known_values_never_change()
    {
        Assert.Equal(KnownEmpty, StableHash.Of(""));
        Assert.Equal(KnownNodeId, StableHash.Of("node-a.eu-west"));
        Assert.Equal(KnownMix, StableHash.Mix(1, 2));
        Assert.Equal(KnownChunk, StableHash.ChunkKey("datasets", "imagenet/shard-00001.tar", 7));
    }

    // XXH3-64 of no bytes is 0x2D06800538D394C2 in the reference implementation: we really are XXH3.
    private const ulong KnownEmpty = 3244421341483603138;
    private const ulong KnownNodeId = 15522785048085833177;
    private const ulong KnownMix = 2714486797602074777;
    private const ulong KnownChunk = 15313702498692060796;

    [Fact]
    public void String_hash_is_the_hash_of_its_utf8_bytes_including_long_strings()
    {
        foreach (string text in new[] { "", "abc", "ünïcødé-€", new string('x', 1000) + "é" })
            Assert.Equal(StableHash.Of(Encoding.UTF8.GetBytes(text)), StableHash.Of(text));
    }

    [Fact]
    public void Chunk_key_separates_container_from_blob_and_chunks_from_each_other()
    {
        Assert.NotEqual(StableHash.ChunkKey("a/b", "c", 0), StableHash.ChunkKey("a", "b/c", 0));
        Assert.NotEqual(StableHash.ChunkKey("a", "b", 0), StableHash.ChunkKey("a", "b", 1));
        Assert.Equal(StableHash.ChunkKey("a", "b", 5), StableHash.ChunkKey(StableHash.BlobKey("a", "b"), 5));
    }

    [Fact]
    public void Hashes_of_similar_strings_spread_evenly_over_buckets()
    {
        const int Buckets = 256, PerBucket = 400;
        var counts = new int[Buckets];
        for (int i = 0; i < Buckets * PerBucket; i++) counts[StableHash.Of($"node-{i}") >> 56]++;
        AssertUniform(counts, PerBucket);
    }

    [Fact]
    public void Mix_of_consecutive_inputs_spreads_evenly_and_avalanches()
    {
        const int Buckets = 256, PerBucket = 400;
        var counts = new int[Buckets];
        for (int i = 0; i < Buckets * PerBucket; i++) counts[StableHash.Mix(42, (ulong)i) & 0xFF]++;
        AssertUniform(counts, PerBucket);

        // Flipping any input bit flips about half the output bits.
        long flipped = 0;
        int trials = 0;
        for (int bit = 0; bit < 64; bit++)
        {
            for (ulong a = 1; a < 50; a++, trials++)
                flipped += (long)ulong.PopCount(StableHash.Mix(a, 99) ^ StableHash.Mix(a ^ (1UL << bit), 99));
        }
        Assert.InRange((double)flipped / trials, 31, 33);
    }

    // Chi-square with 255 degrees of freedom: mean 255, sd ~22.6; 400 is far in the tail.
    private static void AssertUniform(int[] counts, int expected)
    {
        double chi2 = counts.Sum(c => (double)(c - expected) * (c - expected) / expected);
        Assert.InRange(chi2, 150, 400);
    }
}
