using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace BlobCache.Node.Peers;

/// <summary>The fields of one <c>ChunkPiece</c> as read off the wire; <see cref="Data"/> is a slice of the message, not a copy.</summary>
public readonly record struct ChunkPieceView(long Length, ulong Checksum, string Source, ReadOnlySequence<byte> Data);

/// <summary>
/// Reads a <c>ChunkPiece</c> (protocol/chunks.proto) straight from the received message. The generated parser
/// copies every piece's data into a fresh <c>ByteString</c> (64 KiB of new memory to clear and collect per piece,
/// then copied again into the chunk); this reader hands the data back as a slice so the requester copies it once,
/// into the chunk. Same results as the generated parser for every message it accepts: proto3 rules, the last
/// occurrence of a field wins, fields it does not know are skipped. Stricter in three ways, none of which an owner sends: groups (a wire type
/// proto3 never writes), a source longer than 1 KiB and a tag longer than 32 bits are refused.
/// </summary>
public static class ChunkPieceWire
{
    private const uint LengthTag = 1 << 3 | 0, ChecksumTag = 2 << 3 | 1, SourceTag = 3 << 3 | 2, DataTag = 4 << 3 | 2;
    private const int MaxSourceBytes = 1024;

    /// <summary>Null when <paramref name="message"/> is a well-formed piece, else what is wrong with it.</summary>
    public static string? TryRead(ReadOnlySequence<byte> message, out ChunkPieceView piece)
    {
        piece = default;
        var reader = new SequenceReader<byte>(message);
        long length = 0;
        ulong checksum = 0;
        ReadOnlySequence<byte> source = ReadOnlySequence<byte>.Empty, data = ReadOnlySequence<byte>.Empty;
        while (!reader.End)
        {
            if (!TryVarint(ref reader, out ulong tag) || tag > uint.MaxValue) return "a malformed field tag";
            if (tag >> 3 == 0) return "field number 0";
            switch ((uint)tag)
            {
                case LengthTag:
                    if (!TryVarint(ref reader, out ulong l)) return "a malformed length";
                    length = (long)l;
                    break;
                case ChecksumTag:
                    if (!reader.TryReadLittleEndian(out long c)) return "a truncated checksum";
                    checksum = (ulong)c;
                    break;
                case SourceTag:
                    if (!TryDelimited(ref reader, out source)) return "a truncated source";
                    if (source.Length > MaxSourceBytes) return $"a source of {source.Length} bytes";
                    if (!IsUtf8(source)) return "a source that is not UTF-8"; // protobuf checks every copy, not only the last
                    break;
                case DataTag:
                    if (!TryDelimited(ref reader, out data)) return "truncated data";
                    break;
                default:
                    if (!TrySkip(ref reader, (int)(tag & 7))) return $"an unreadable field {tag >> 3} of wire type {tag & 7}";
                    break;
            }
        }
        // Decoded once, the last copy: each copy would cost a string.
        piece = new ChunkPieceView(length, checksum, source.IsEmpty ? "" : Encoding.UTF8.GetString(source), data);
        return null;
    }

    private static bool IsUtf8(in ReadOnlySequence<byte> text)
    {
        if (text.IsSingleSegment) return Utf8.IsValid(text.FirstSpan);
        Span<byte> joined = stackalloc byte[MaxSourceBytes];
        text.CopyTo(joined);
        return Utf8.IsValid(joined[..(int)text.Length]);
    }

    private static bool TrySkip(ref SequenceReader<byte> reader, int wireType) => wireType switch
    {
        0 => TryVarint(ref reader, out _),
        1 => TrySkipBytes(ref reader, 8),
        2 => TryDelimited(ref reader, out _),
        5 => TrySkipBytes(ref reader, 4),
        _ => false, // 3 and 4: groups; 6 and 7 do not exist
    };

    private static bool TrySkipBytes(ref SequenceReader<byte> reader, long count)
    {
        if (reader.Remaining < count) return false;
        reader.Advance(count);
        return true;
    }

    private static bool TryDelimited(ref SequenceReader<byte> reader, out ReadOnlySequence<byte> value)
    {
        value = default;
        // protobuf takes a length's low 32 bits and refuses a negative one
        if (!TryVarint(ref reader, out ulong n) || (int)(uint)n < 0) return false;
        return reader.TryReadExact((int)(uint)n, out value);
    }

    /// <summary>A base-128 varint of at most 10 bytes, as protobuf reads one.</summary>
    private static bool TryVarint(ref SequenceReader<byte> reader, out ulong value)
    {
        value = 0;
        for (int shift = 0; shift < 70; shift += 7)
        {
            if (!reader.TryRead(out byte b)) return false;
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return true;
        }
        return false;
    }
}
