using System.Buffers.Binary;
using System.Text;

namespace BlobCache.Fuse;

/// <summary>
/// One <c>struct fuse_dirent</c> in a readdir reply: inode, the offset of the next entry, name length, type, the
/// name, padded to 8 bytes.
/// </summary>
internal static class Dirent
{
    private const int Header = 24;

    /// <summary>Writes one entry; 0 when it does not fit (the reply ends there, the kernel asks again from its offset).</summary>
    public static int Write(Span<byte> into, ulong ino, long nextOffset, byte type, string name)
    {
        int nameBytes = Encoding.UTF8.GetByteCount(name);
        int size = (Header + nameBytes + 7) & ~7;
        if (size > into.Length) return 0;
        BinaryPrimitives.WriteUInt64LittleEndian(into, ino);
        BinaryPrimitives.WriteInt64LittleEndian(into[8..], nextOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(into[16..], (uint)nameBytes);
        BinaryPrimitives.WriteUInt32LittleEndian(into[20..], type);
        Encoding.UTF8.GetBytes(name, into[Header..]);
        into[(Header + nameBytes)..size].Clear();
        return size;
    }

    /// <summary>
    /// The inode number a listing shows for a name not looked up yet: never 0 (some readers skip such entries), and
    /// above the numbers the table hands out. Only a hint: lookups give the real number.
    /// </summary>
    public static ulong InoOf(string name) => (ulong)(uint)StringComparer.Ordinal.GetHashCode(name) | (1UL << 63);
}
