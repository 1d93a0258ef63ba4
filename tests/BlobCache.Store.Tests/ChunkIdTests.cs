using BlobCache.Store;

namespace BlobCache.Store.Tests;

public class ChunkIdTests
{
    [Fact]
    public void Hash_is_pinned()
    {
        // Computed once; file names depend on it, so a change here orphans every chunk on every disk.
        var id = new ChunkId("account", "container", "dir/blob.bin", "0x8DBF00D", 42);
        Assert.Equal(11777131274663330893UL, id.Hash);

        // And it is XxHash3 of the documented encoding: u32 LE UTF-8 length + bytes per string, then i64 LE index.
        var bytes = new List<byte>();
        foreach (string s in new[] { "account", "container", "dir/blob.bin", "0x8DBF00D" })
        {
            bytes.AddRange(BitConverter.GetBytes(s.Length));
            bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(s));
        }
        bytes.AddRange(BitConverter.GetBytes(42L));
        Assert.Equal(System.IO.Hashing.XxHash3.HashToUInt64(bytes.ToArray()), id.Hash);
    }

    [Fact]
    public void Fields_do_not_run_together()
    {
        Assert.NotEqual(new ChunkId("a", "bc", "x", "e", 0).Hash, new ChunkId("ab", "c", "x", "e", 0).Hash);
        Assert.NotEqual(new ChunkId("a", "b", "cx", "e", 0).Hash, new ChunkId("a", "bc", "x", "e", 0).Hash);
        Assert.NotEqual(new ChunkId("a", "b", "c", "de", 0).Hash, new ChunkId("a", "b", "cd", "e", 0).Hash);
        Assert.NotEqual(new ChunkId("a", "b", "c", "e", 0).Hash, new ChunkId("a", "b", "c", "e", 1).Hash);
        Assert.NotEqual(new ChunkId("a", "b", "c", "e1", 0).Hash, new ChunkId("a", "b", "c", "e2", 0).Hash);
    }

    [Fact]
    public void Hash_follows_with_expressions()
    {
        var a = new ChunkId("a", "b", "c", "e", 1);
        var b = a with { Index = 2 };
        Assert.Equal(new ChunkId("a", "b", "c", "e", 2).Hash, b.Hash);
        Assert.NotEqual(a.Hash, b.Hash);
    }

    [Fact]
    public void Long_ids_hash_like_short_ones_would()
    {
        string longBlob = new('x', 5000);
        var id = new ChunkId("a", "b", longBlob, "e", 0);
        Assert.Equal(id.Hash, new ChunkId("a", "b", new string('x', 5000), "e", 0).Hash);
        Assert.NotEqual(id.Hash, new ChunkId("a", "b", longBlob + "y", "e", 0).Hash);
    }

    [Fact]
    public void ToString_and_equality()
    {
        var id = new ChunkId("acct", "cont", "path/to/blob", "0x1", 7);
        Assert.Equal("acct/cont/path/to/blob@0x1#7", id.ToString());
        Assert.Equal(id, new ChunkId("acct", "cont", "path/to/blob", "0x1", 7));
        Assert.NotEqual(id, id with { ETag = "0x2" });
    }

    [Fact]
    public void Null_fields_and_negative_index_are_rejected()
    {
        Assert.Throws<ArgumentNullException>(() => new ChunkId(null!, "c", "b", "e", 0));
        Assert.Throws<ArgumentNullException>(() => new ChunkId("a", "c", "b", null!, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ChunkId("a", "c", "b", "e", -1));
    }
}
