using System.Runtime.InteropServices;

namespace BlobCache.Mesh.Placement;

/// <summary>
/// Allocates the big lookup tables. A lookup reads 64 random slots of a table that reaches 64 MB at 100,000
/// members; with 4 KiB pages nearly every read also misses the TLB. On Linux, a table that spans whole 2 MiB
/// pages is allocated pinned and advised to use transparent huge pages (MADV_HUGEPAGE), which removes most of
/// those page walks. A hint only: where it is unavailable nothing changes but speed.
/// </summary>
internal static class LargeTable
{
    private const int HugePage = 2 << 20;
    private const int MadviseHugePage = 14;

    public static ulong[] Allocate(int length)
    {
        long bytes = (long)length * sizeof(ulong);
        if (bytes < 4L * HugePage || !OperatingSystem.IsLinux()) return new ulong[length];
        // On the pinned object heap, so its address never changes and needs no handle.
        ulong[] table = GC.AllocateUninitializedArray<ulong>(length, pinned: true);
        try
        {
            long start = Marshal.UnsafeAddrOfPinnedArrayElement(table, 0);
            long first = (start + HugePage - 1) & ~(long)(HugePage - 1);
            long end = (start + bytes) & ~(long)(HugePage - 1);
            if (end > first) _ = Madvise((nint)first, (nuint)(end - first), MadviseHugePage);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // No libc madvise here: the table works the same, only slower.
        }
        return table;
    }

    [DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(nint address, nuint length, int advice);
}
