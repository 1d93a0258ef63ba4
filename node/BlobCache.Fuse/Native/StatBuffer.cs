using System.Runtime.InteropServices;

namespace BlobCache.Fuse.Native;

/// <summary>
/// Writes a Linux <c>struct stat</c> as glibc lays it out: x86-64 (144 bytes, 64-bit nlink before mode) or the
/// generic layout of arm64 (128 bytes, mode before a 32-bit nlink). Size, blocks and times sit at the same offsets in both.
/// </summary>
internal static unsafe class StatBuffer
{
    public const uint DirectoryMode = 0x4000 | 0x16D; // S_IFDIR | 0555
    public const uint FileMode = 0x8000 | 0x124;      // S_IFREG | 0444

    private static readonly bool X64 = RuntimeInformation.ProcessArchitecture == Architecture.X64;

    public static int Size => X64 ? 144 : 128;

    /// <summary>Fills <paramref name="stat"/> (at least <see cref="Size"/> bytes) for one inode.</summary>
    public static void Write(byte* stat, ulong ino, uint mode, long size, DateTimeOffset modified)
    {
        new Span<byte>(stat, Size).Clear();
        *(ulong*)(stat + 8) = ino;
        // Directories say 1 link: "unknown", so tools never infer a subdirectory count from it (find's leaf optimisation).
        if (X64)
        {
            *(ulong*)(stat + 16) = 1;
            *(uint*)(stat + 24) = mode;
            *(long*)(stat + 56) = 4096; // st_blksize
        }
        else
        {
            *(uint*)(stat + 16) = mode;
            *(uint*)(stat + 20) = 1;
            *(int*)(stat + 56) = 4096;
        }
        *(long*)(stat + 48) = size;
        *(long*)(stat + 64) = (size + 511) / 512; // st_blocks: du and ls -s show the blob's size
        long seconds = modified.ToUnixTimeSeconds();
        long nanos = (modified.UtcTicks % TimeSpan.TicksPerSecond) * 100;
        for (int at = 72; at <= 104; at += 16)
        {
            *(long*)(stat + at) = seconds;
            *(long*)(stat + at + 8) = nanos;
        }
    }
}
