using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;
using MessagePack;

namespace BlobCache.Protocol.Gossip;

/// <summary>
/// A <see cref="MessagePackReader"/> that checks each token's type, bounds and completeness from the raw bytes
/// before reading it, so malformed input becomes an <see cref="Error"/> instead of an exception.
/// </summary>
internal ref struct WireReader
{
    private MessagePackReader _reader;
    private readonly ReadOnlySpan<byte> _bytes;

    /// <summary>
    /// Values still owed by every open array (and the one top-level value). Each takes at least a byte, so this
    /// may never exceed <see cref="Remaining"/>; MessagePackReader enforces the same bound by throwing.
    /// </summary>
    private long _pending = 1;

    public WireReader(ReadOnlyMemory<byte> bytes)
    {
        _reader = new MessagePackReader(bytes);
        _bytes = bytes.Span;
    }

    /// <summary>Why the last failed read failed.</summary>
    public string? Error { get; private set; }

    public readonly int Remaining => _bytes.Length - (int)_reader.Consumed;

    public bool Fail(string error)
    {
        Error = error;
        return false;
    }

    /// <summary>Reads an array header of at least <paramref name="minCount"/> and at most <paramref name="maxCount"/> elements, before anything is allocated for them.</summary>
    public bool TryReadArrayHeader(string what, int minCount, out int count, int maxCount = int.MaxValue, string? maxName = null)
    {
        count = 0;
        if (!TryPeek(what, out Token token)) return false;
        if (token.Type != WireType.Array) return Fail($"{what}: expected an array, found {token.Type}");
        if (token.Length < minCount) return Fail($"{what}: array has {token.Length} elements, needs at least {minCount}");
        if (token.Length > maxCount) return Fail($"{token.Length} {what} exceed {maxName} ({maxCount})");
        if (!TryOwe(what, token)) return false;
        count = _reader.ReadArrayHeader();
        return true;
    }

    /// <summary>Takes the container's elements on as debt; a count the remaining bytes cannot hold is a lie.</summary>
    private bool TryOwe(string what, Token token)
    {
        long pending = _pending - 1 + (token.Type == WireType.Map ? 2 * token.Length : token.Length);
        int left = Remaining - token.HeaderBytes;
        if (pending > left) return Fail($"{what}: {token.Type} of {token.Length} elements cannot fit in the {left} bytes left");
        _pending = pending;
        return true;
    }

    /// <summary>Completes the bookkeeping for a scalar the caller is about to read.</summary>
    private bool TryTakeScalar(string what, Token token)
    {
        if (token.Length > Remaining - token.HeaderBytes) return Fail($"{what}: {token.Type} runs past the end of the packet");
        _pending--;
        return true;
    }

    public bool TryReadUInt32(string what, out uint value)
    {
        value = 0;
        if (!TryPeek(what, out Token token)) return false;
        if (token.Type != WireType.Integer) return Fail($"{what}: expected an integer, found {token.Type}");
        if (!TryTakeScalar(what, token)) return false;
        if (token.Signed)
        {
            long signed = _reader.ReadInt64();
            if (signed is < 0 or > uint.MaxValue) return Fail($"{what}: {signed} is out of range");
            value = (uint)signed;
        }
        else
        {
            ulong unsigned = _reader.ReadUInt64();
            if (unsigned > uint.MaxValue) return Fail($"{what}: {unsigned} is out of range");
            value = (uint)unsigned;
        }
        return true;
    }

    public bool TryReadUInt16(string what, out ushort value)
    {
        value = 0;
        if (!TryReadUInt32(what, out uint wide)) return false;
        if (wide > ushort.MaxValue) return Fail($"{what}: {wide} is out of range");
        value = (ushort)wide;
        return true;
    }

    public bool TryReadBoolean(string what, out bool value)
    {
        value = false;
        if (!TryPeek(what, out Token token)) return false;
        if (token.Type != WireType.Boolean) return Fail($"{what}: expected a boolean, found {token.Type}");
        if (!TryTakeScalar(what, token)) return false;
        value = _reader.ReadBoolean();
        return true;
    }

    /// <summary>Reads a UTF-8 string of at most <see cref="WireLimits.MaxStringBytes"/> bytes; the length is checked before the string is allocated.</summary>
    public bool TryReadString(string what, bool allowEmpty, out string value)
    {
        value = "";
        if (!TryPeek(what, out Token token)) return false;
        if (token.Type != WireType.String) return Fail($"{what}: expected a string, found {token.Type}");
        if (token.Length > WireLimits.MaxStringBytes) return Fail($"{what}: string of {token.Length} bytes exceeds the limit of {WireLimits.MaxStringBytes}");
        if (token.Length == 0 && !allowEmpty) return Fail($"{what} is empty");
        if (!TryTakeScalar(what, token)) return false;
        if (!_reader.TryReadStringSpan(out ReadOnlySpan<byte> utf8)) return Fail($"{what}: string is not contiguous");
        if (!Utf8.IsValid(utf8)) return Fail($"{what}: invalid UTF-8");
        value = utf8.IsEmpty ? "" : Encoding.UTF8.GetString(utf8);
        return true;
    }

    /// <summary>Reads a bin of at most <paramref name="maxBytes"/> bytes, checked before anything is read; the span points into the input.</summary>
    public bool TryReadBinary(string what, int maxBytes, out ReadOnlySpan<byte> value)
    {
        value = default;
        if (!TryPeek(what, out Token token)) return false;
        if (token.Type != WireType.Binary) return Fail($"{what}: expected a binary, found {token.Type}");
        if (token.Length > maxBytes) return Fail($"{what}: binary of {token.Length} bytes exceeds the limit of {maxBytes}");
        if (!TryTakeScalar(what, token)) return false;
        int start = (int)_reader.Consumed + token.HeaderBytes;
        value = _bytes.Slice(start, (int)token.Length);
        _reader.ReadRaw(token.HeaderBytes + token.Length);
        return true;
    }

    public readonly bool NextIsNil => Remaining > 0 && _bytes[(int)_reader.Consumed] == 0xC0;

    public void ReadNil()
    {
        _reader.ReadNil();
        _pending--;
    }

    public readonly bool AtEnd => Remaining == 0;

    /// <summary>Skips <paramref name="count"/> values of any type, without recursion (nesting depth cannot blow the stack).</summary>
    public bool TrySkip(string what, int count)
    {
        // The skipped values are already owed by their container; done when the debt is back below them.
        long done = _pending - count;
        while (_pending > done)
        {
            if (!TryPeek(what, out Token token)) return false;
            if (token.Type is WireType.Array or WireType.Map)
            {
                if (!TryOwe(what, token)) return false;
                _reader.ReadRaw(token.HeaderBytes);
            }
            else
            {
                if (!TryTakeScalar(what, token)) return false;
                _reader.ReadRaw(token.HeaderBytes + token.Length);
            }
        }
        return true;
    }

    /// <summary>Decodes the next token's header from the raw bytes; its payload (or elements) are checked by the caller, after its own limits.</summary>
    private bool TryPeek(string what, out Token token)
    {
        token = default;
        ReadOnlySpan<byte> rest = _bytes[(int)_reader.Consumed..];
        if (rest.IsEmpty) return Fail($"{what}: unexpected end of packet");
        byte code = rest[0];
        token = code switch
        {
            <= 0x7F => new Token(WireType.Integer, 1, 0, Signed: false),
            <= 0x8F => new Token(WireType.Map, 1, code & 0x0F),
            <= 0x9F => new Token(WireType.Array, 1, code & 0x0F),
            <= 0xBF => new Token(WireType.String, 1, code & 0x1F),
            0xC0 => new Token(WireType.Nil, 1, 0),
            0xC1 => new Token(WireType.Invalid, 1, 0),
            0xC2 or 0xC3 => new Token(WireType.Boolean, 1, 0),
            0xC4 => new Token(WireType.Binary, 2, -1),
            0xC5 => new Token(WireType.Binary, 3, -1),
            0xC6 => new Token(WireType.Binary, 5, -1),
            0xC7 => new Token(WireType.Extension, 3, -1),
            0xC8 => new Token(WireType.Extension, 4, -1),
            0xC9 => new Token(WireType.Extension, 6, -1),
            0xCA => new Token(WireType.Float, 1, 4),
            0xCB => new Token(WireType.Float, 1, 8),
            0xCC => new Token(WireType.Integer, 1, 1, Signed: false),
            0xCD => new Token(WireType.Integer, 1, 2, Signed: false),
            0xCE => new Token(WireType.Integer, 1, 4, Signed: false),
            0xCF => new Token(WireType.Integer, 1, 8, Signed: false),
            0xD0 => new Token(WireType.Integer, 1, 1, Signed: true),
            0xD1 => new Token(WireType.Integer, 1, 2, Signed: true),
            0xD2 => new Token(WireType.Integer, 1, 4, Signed: true),
            0xD3 => new Token(WireType.Integer, 1, 8, Signed: true),
            0xD4 => new Token(WireType.Extension, 2, 1),
            0xD5 => new Token(WireType.Extension, 2, 2),
            0xD6 => new Token(WireType.Extension, 2, 4),
            0xD7 => new Token(WireType.Extension, 2, 8),
            0xD8 => new Token(WireType.Extension, 2, 16),
            0xD9 => new Token(WireType.String, 2, -1),
            0xDA => new Token(WireType.String, 3, -1),
            0xDB => new Token(WireType.String, 5, -1),
            0xDC => new Token(WireType.Array, 3, -1),
            0xDD => new Token(WireType.Array, 5, -1),
            0xDE => new Token(WireType.Map, 3, -1),
            0xDF => new Token(WireType.Map, 5, -1),
            _ => new Token(WireType.Integer, 1, 0, Signed: true), // negative fixint
        };
        if (token.Type == WireType.Invalid) return Fail($"{what}: invalid MessagePack code 0xC1");
        if (rest.Length < token.HeaderBytes) return Fail($"{what}: unexpected end of packet");
        if (token.Length < 0)
        {
            // The length field follows the code byte (big-endian, 1, 2 or 4 bytes); extension headers add a type byte after it.
            int lengthBytes = code switch { 0xC4 or 0xC7 or 0xD9 => 1, 0xC5 or 0xC8 or 0xDA or 0xDC or 0xDE => 2, _ => 4 };
            ReadOnlySpan<byte> field = rest.Slice(1, lengthBytes);
            long length = lengthBytes switch
            {
                1 => field[0],
                2 => BinaryPrimitives.ReadUInt16BigEndian(field),
                _ => BinaryPrimitives.ReadUInt32BigEndian(field),
            };
            token = token with { Length = length };
        }
        return true;
    }

    private enum WireType : byte { Invalid, Nil, Boolean, Integer, Float, String, Binary, Extension, Array, Map }

    /// <param name="HeaderBytes">Code byte plus length field (plus extension type byte).</param>
    /// <param name="Length">Payload bytes for scalars, strings, binaries and extensions; element count for arrays and maps.</param>
    private readonly record struct Token(WireType Type, int HeaderBytes, long Length, bool Signed = false);
}
