using BlobCache.Store;

namespace BlobCache.Store.Tests;

internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "blobcache-store-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string[] ChunkFiles() =>
        Directory.GetFiles(Path, "*.chunk", SearchOption.AllDirectories);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class Chunks
{
    public static ChunkId Id(long index, string blob = "blob") => new("acct", "cont", blob, "0x8DC", index);

    /// <summary>Content derived from the id alone, so any reader can check what it got.</summary>
    public static void Fill(in ChunkId id, Span<byte> into)
    {
        ulong x = id.Hash | 1;
        for (int i = 0; i < into.Length; i++)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            into[i] = (byte)x;
        }
    }

    public static ChunkBuffer Make(in ChunkId id, int length)
    {
        ChunkBuffer b = ChunkBuffer.Rent(length);
        Fill(id, b.Writable);
        b.Seal();
        return b;
    }

    public static bool Matches(in ChunkId id, ReadOnlySpan<byte> data, int length)
    {
        if (data.Length != length)
            return false;
        byte[] expected = new byte[length];
        Fill(id, expected);
        return data.SequenceEqual(expected);
    }

    /// <summary>Put a fresh chunk and drop the caller's reference, as a fetcher would.</summary>
    public static void PutNew(ChunkStore store, in ChunkId id, int length)
    {
        ChunkBuffer b = Make(id, length);
        store.Put(id, b);
        b.Release();
    }
}
