using BlobCache.Fuse;
using BlobCache.Store;
using BlobCache.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobCache.Node.Tests.Mount;

/// <summary>
/// The file system mounted in this process over a fake source with odd-sized chunks, some answered at once and some
/// later: what the node's own tests cannot steer (which requests cross chunks, how often the source is asked).
/// </summary>
public sealed class FileSystemInProcessTests
{
    /// <summary>Files by path; chunks of 5,000 bytes (never page-aligned), every odd chunk answered asynchronously.</summary>
    private sealed class FakeSource(Dictionary<string, byte[]> files) : IMountSource
    {
        public int FileLookups;
        public int DirectoryProbes;
        public int Listings;

        public int ChunkSize => 5000;

        public ValueTask<FileVersion?> FileAsync(string path, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref FileLookups);
            return ValueTask.FromResult(files.TryGetValue(path, out byte[]? data) ? new FileVersion(path, path, "\"1\"", data.Length, DateTimeOffset.UnixEpoch) : null);
        }

        public ValueTask<bool> DirectoryExistsAsync(string path, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref DirectoryProbes);
            return ValueTask.FromResult(files.Keys.Any(k => k.StartsWith(path + "/", StringComparison.Ordinal)));
        }

        public Task<IReadOnlyList<DirectoryEntry>> ListAsync(string path, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Listings);
            string prefix = path.Length == 0 ? "" : path + "/";
            IReadOnlyList<DirectoryEntry> entries = files.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal))
                .Select(k => k[prefix.Length..]).Select(rest => rest.Contains('/', StringComparison.Ordinal)
                    ? new DirectoryEntry(rest[..rest.IndexOf('/', StringComparison.Ordinal)], true) : new DirectoryEntry(rest, false))
                .Distinct().ToList();
            return Task.FromResult(entries);
        }

        public ValueTask<ChunkBuffer> ReadChunkAsync(FileVersion file, long index, CancellationToken cancellationToken)
        {
            byte[] data = files[file.Path];
            int start = (int)(index * ChunkSize), length = Math.Min(ChunkSize, data.Length - start);
            ChunkBuffer chunk = ChunkBuffer.Rent(length);
            data.AsSpan(start, length).CopyTo(chunk.Writable);
            chunk.Seal();
            return index % 2 == 0 ? ValueTask.FromResult(chunk) : LaterAsync(chunk);
        }

        private static async ValueTask<ChunkBuffer> LaterAsync(ChunkBuffer chunk)
        {
            await Task.Delay(1);
            return chunk;
        }

        public void ReadAhead(FileVersion file, long index)
        {
        }
    }

    private static async Task WithMountAsync(FakeSource source, Func<string, Task> test)
    {
        using var dir = new TempDir("blobcache-fs-");
        var fs = new ReadOnlyFileSystem(source, "fake", TimeSpan.FromSeconds(30), NullLogger.Instance);
        FuseMount mount = FuseMount.Start(dir.Path, fs, new FuseMountSettings("blobcache:fake", 128 * 1024), NullLogger.Instance);
        try
        {
            await test(dir.Path);
        }
        finally
        {
            mount.Dispose();
        }
    }

    [SkippableFact]
    public async Task Reads_across_chunk_boundaries_and_chunks_that_arrive_later_give_every_byte_exact()
    {
        Skip.IfNot(MountedNode.FuseAvailable, MountedNode.NoFuse);
        var random = new Random(26);
        var files = new Dictionary<string, byte[]>();
        foreach (int size in new[] { 0, 1, 4999, 5000, 5001, 10_000, 123_457, 1_100_003 })
        {
            byte[] data = new byte[size];
            random.NextBytes(data);
            files[$"d/f-{size}.bin"] = data;
        }
        await WithMountAsync(new FakeSource(files), async root =>
        {
            foreach ((string path, byte[] data) in files)
                Assert.True((await File.ReadAllBytesAsync(Path.Combine(root, path))).AsSpan().SequenceEqual(data), $"{path} read wrong");
            // Reads at offsets of our choosing (each a request of its own through an unbuffered handle).
            byte[] big = files["d/f-1100003.bin"];
            using Microsoft.Win32.SafeHandles.SafeFileHandle handle = File.OpenHandle(Path.Combine(root, "d/f-1100003.bin"));
            byte[] buffer = new byte[70_001];
            foreach (long offset in new long[] { 4999, 9_998, 500_001, big.Length - 3, big.Length - buffer.Length })
            {
                int n = RandomAccess.Read(handle, buffer, offset);
                Assert.Equal(Math.Min(buffer.Length, big.Length - offset), n);
                Assert.True(buffer.AsSpan(0, n).SequenceEqual(big.AsSpan((int)offset, n)), $"read at {offset} wrong");
            }
        });
    }

    [SkippableFact]
    public async Task Missing_names_in_a_listed_directory_are_answered_from_its_listing_without_asking_the_source()
    {
        Skip.IfNot(MountedNode.FuseAvailable, MountedNode.NoFuse);
        var files = new Dictionary<string, byte[]> { ["pkg/a.bin"] = [1], ["pkg/sub/b.bin"] = [2] };
        var source = new FakeSource(files);
        await WithMountAsync(source, root =>
        {
            Assert.Equal(["a.bin", "sub"], Directory.GetFileSystemEntries(Path.Combine(root, "pkg")).Select(Path.GetFileName).Order());
            int lookups = source.FileLookups, probes = source.DirectoryProbes;
            // What an interpreter searching a path does: many names that are not there.
            for (int i = 0; i < 50; i++) Assert.False(File.Exists(Path.Combine(root, "pkg", $"module{i}.py")));
            Assert.Equal(lookups, source.FileLookups);
            Assert.Equal(probes, source.DirectoryProbes);
            Assert.True(Directory.Exists(Path.Combine(root, "pkg", "sub")));
            Assert.Equal(probes, source.DirectoryProbes); // a listed directory needs no probe either
            Assert.False(Directory.Exists(Path.Combine(root, "nowhere")));
            Assert.Equal(1, source.Listings); // only pkg was listed; the root was asked about one name, never listed
            return Task.CompletedTask;
        });
    }
}
