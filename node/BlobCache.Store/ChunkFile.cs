using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace BlobCache.Store;

/// <summary>
/// The on-disk form of one chunk: a header then the data. Little-endian:
/// <code>
///  0  u32  magic "BCCK"
///  4  u16  format version (1)
///  6  u16  reserved (0)
///  8  i32  header length (data starts here)
/// 12  i32  data length
/// 16  u64  XxHash3 of the data
/// 24  ...  the ChunkId, canonically encoded (length-prefixed UTF-8 strings, then the index)
/// end-8 u64 XxHash3 of the header bytes before it
/// </code>
/// The id is in the header so the index can be rebuilt from the files alone; the header's own checksum means a
/// flipped bit there is caught without trusting any field of it.
/// </summary>
internal static class ChunkFile
{
    public const uint Magic = 0x4B434342; // "BCCK" read as little-endian
    public const ushort Version = 1;
    public const int FixedBytes = 24;
    public const string Extension = ".chunk";
    public const string TempExtension = ".tmp";

    // A header longer than this is not ours (ids are a few hundred bytes); refusing it bounds what a foreign file
    // can make us allocate.
    public const int MaxHeaderBytes = 64 * 1024;

    public static int HeaderLength(in ChunkId id) => FixedBytes + id.CanonicalLength + 8;

    /// <summary>"dir/ab/cd/abcd0123456789ef.chunk": two levels of 256 subdirectories keep directories small.</summary>
    public static string PathFor(string root, ulong hash)
    {
        string hex = hash.ToString("x16", CultureInfo.InvariantCulture);
        return Path.Combine(root, hex[..2], hex[2..4], hex + Extension);
    }

    public static void WriteHeader(Span<byte> header, in ChunkId id, int dataLength, ulong dataChecksum)
    {
        int headerLength = header.Length;
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], Version);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], 0);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], headerLength);
        BinaryPrimitives.WriteInt32LittleEndian(header[12..], dataLength);
        BinaryPrimitives.WriteUInt64LittleEndian(header[16..], dataChecksum);
        id.WriteCanonical(header[FixedBytes..]);
        BinaryPrimitives.WriteUInt64LittleEndian(header[(headerLength - 8)..], XxHash3.HashToUInt64(header[..(headerLength - 8)]));
    }

    /// <summary>Checks magic, version, lengths against the file's length, and the header checksum.</summary>
    public static bool CheckHeader(ReadOnlySpan<byte> header, long fileLength, out int dataLength, out ulong dataChecksum)
    {
        dataLength = 0;
        dataChecksum = 0;
        if (header.Length < FixedBytes + 8
            || BinaryPrimitives.ReadUInt32LittleEndian(header) != Magic
            || BinaryPrimitives.ReadUInt16LittleEndian(header[4..]) != Version
            || BinaryPrimitives.ReadInt32LittleEndian(header[8..]) != header.Length)
            return false;
        dataLength = BinaryPrimitives.ReadInt32LittleEndian(header[12..]);
        dataChecksum = BinaryPrimitives.ReadUInt64LittleEndian(header[16..]);
        if (dataLength < 0 || header.Length + (long)dataLength != fileLength)
            return false;
        ulong stored = BinaryPrimitives.ReadUInt64LittleEndian(header[(header.Length - 8)..]);
        return stored == XxHash3.HashToUInt64(header[..(header.Length - 8)]);
    }

    /// <summary>Reads the header length field of a file, or -1 when the file is too short or not ours.</summary>
    public static int PeekHeaderLength(ReadOnlySpan<byte> fixedPart)
    {
        if (fixedPart.Length < FixedBytes || BinaryPrimitives.ReadUInt32LittleEndian(fixedPart) != Magic)
            return -1;
        int n = BinaryPrimitives.ReadInt32LittleEndian(fixedPart[8..]);
        return n is >= FixedBytes + 8 and <= MaxHeaderBytes ? n : -1;
    }

    /// <summary>Decodes the id from a header that <see cref="CheckHeader"/> accepted; false if malformed.</summary>
    public static bool TryDecodeId(ReadOnlySpan<byte> header, out ChunkId id)
    {
        id = default;
        ReadOnlySpan<byte> rest = header[FixedBytes..^8];
        if (!TryString(ref rest, out string? account) || !TryString(ref rest, out string? container)
            || !TryString(ref rest, out string? blob) || !TryString(ref rest, out string? etag) || rest.Length != 8)
            return false;
        long index = BinaryPrimitives.ReadInt64LittleEndian(rest);
        if (index < 0)
            return false;
        id = new ChunkId(account, container, blob, etag, index);
        return true;
    }

    private static bool TryString(ref ReadOnlySpan<byte> rest, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? value)
    {
        value = null;
        if (rest.Length < 4)
            return false;
        int n = BinaryPrimitives.ReadInt32LittleEndian(rest);
        if (n < 0 || n > rest.Length - 4)
            return false;
        value = Encoding.UTF8.GetString(rest.Slice(4, n));
        rest = rest[(4 + n)..];
        return true;
    }

    /// <summary>Reads exactly <paramref name="destination"/>.Length bytes at <paramref name="offset"/>; false at end of file.</summary>
    public static bool ReadExactly(SafeFileHandle handle, Span<byte> destination, long offset)
    {
        while (destination.Length > 0)
        {
            int n = RandomAccess.Read(handle, destination, offset);
            if (n <= 0)
                return false;
            destination = destination[n..];
            offset += n;
        }
        return true;
    }

    /// <summary>Rents a header-sized span: the stack for ordinary ids, the pool for huge ones.</summary>
    public static Span<byte> HeaderSpan(int length, Span<byte> stack, out byte[]? rented)
    {
        if (length <= stack.Length)
        {
            rented = null;
            return stack[..length];
        }
        rented = ArrayPool<byte>.Shared.Rent(length);
        return rented.AsSpan(0, length);
    }
}
