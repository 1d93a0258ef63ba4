using System.Buffers.Binary;
using BlobCache.Fuse;

namespace BlobCache.Node.Tests.Unit;

/// <summary>The mount's pieces that need no kernel: listings, inode numbers, directory entries, the mount table, read-ahead.</summary>
public sealed class FuseFileSystemTests
{
    [Fact]
    public void A_listing_shows_each_name_once_a_file_before_a_directory_of_the_same_name_and_hides_what_cannot_be_a_path()
    {
        var listing = new Listing([
            new DirectoryEntry("a", IsDirectory: true), new DirectoryEntry("a", IsDirectory: false), new DirectoryEntry("b.bin", false),
            new DirectoryEntry("", true), new DirectoryEntry(".", false), new DirectoryEntry("..", true), new DirectoryEntry(new string('x', 256), false),
        ]);
        Assert.Equal([new DirectoryEntry("a", false), new DirectoryEntry("b.bin", false)], listing.Entries);
        Assert.False(listing.IsDirectory("a"));
        Assert.Null(listing.IsDirectory("missing"));
    }

    [Fact]
    public void Each_file_version_has_its_own_inode_and_an_inode_goes_when_the_kernel_forgets_every_lookup()
    {
        var table = new InodeTable();
        var v1 = new FileVersion("d/f", "p/d/f", "\"1\"", 10, DateTimeOffset.UnixEpoch);
        Inode a = table.Lookup("d/f", v1), again = table.Lookup("d/f", v1 with { });
        Inode b = table.Lookup("d/f", v1 with { ETag = "\"2\"" });
        Assert.Same(a, again);
        Assert.NotEqual(a.Ino, b.Ino);
        Assert.Same(table.Root, table.Lookup("", null));
        table.Forget(a.Ino, 1);
        Assert.Same(a, table.Get(a.Ino));
        table.Forget(a.Ino, 1);
        Assert.Null(table.Get(a.Ino));
        Assert.NotEqual(a.Ino, table.Lookup("d/f", v1).Ino); // numbers are never reused
        table.Forget(InodeTable.RootIno, 100);
        Assert.NotNull(table.Get(InodeTable.RootIno));
        Assert.Equal(3, table.Count); // the root, the second version, the first looked up again: nothing else is kept
    }

    [Fact]
    public void A_directory_entry_is_the_kernels_fuse_dirent_padded_to_eight_bytes_and_is_not_written_when_it_does_not_fit()
    {
        byte[] buffer = new byte[64];
        int n = Dirent.Write(buffer, 42, 7, 8, "héllo"); // 6 UTF-8 bytes
        Assert.Equal(32, n);
        Assert.Equal(42UL, BinaryPrimitives.ReadUInt64LittleEndian(buffer));
        Assert.Equal(7L, BinaryPrimitives.ReadInt64LittleEndian(buffer.AsSpan(8)));
        Assert.Equal(6U, BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(16)));
        Assert.Equal(8U, BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(20)));
        Assert.Equal("héllo", System.Text.Encoding.UTF8.GetString(buffer, 24, 6));
        Assert.Equal(0, Dirent.Write(buffer.AsSpan(0, 31), 42, 7, 8, "héllo"));
        Assert.NotEqual(0UL, Dirent.InoOf(""));
    }

    [Fact]
    public void The_mount_table_reads_device_directory_and_type_with_the_kernels_escapes()
    {
        MountPoint? m = MountTable.Parse(@"45 27 0:40 / /tmp/my\040mount ro,nosuid,nodev,noatime shared:7 - fuse.blobcache blobcache:acct/data ro,user_id=0");
        Assert.Equal(new MountPoint("0:40", "/tmp/my mount", "fuse.blobcache"), m);
        Assert.Null(MountTable.Parse("garbage"));
    }

    [Fact]
    public void A_sequential_reader_asks_for_read_ahead_once_per_chunk_and_a_random_one_never()
    {
        const int chunk = 4 << 20;
        var open = new OpenFile(new FileVersion("f", "f", "e", 100L << 20, DateTimeOffset.UnixEpoch), chunk);
        Assert.True(open.ContinuesSequentially(0, 1 << 20, 0));
        Assert.False(open.ContinuesSequentially(1 << 20, 2 << 20, 0));   // same chunk: already asked
        Assert.True(open.ContinuesSequentially(3 << 20, 5 << 20, 1));    // into the next chunk
        Assert.False(open.ContinuesSequentially(60L << 20, (60L << 20) + 65536, 15)); // a jump: random
        Assert.False(open.ContinuesSequentially(20L << 20, (20L << 20) + 65536, 5));
    }
}
