using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;

namespace BlobCache.Node.Peers;

/// <summary>
/// The primitives of the metadata answers' codecs (<see cref="PeerMetadata"/>, <see cref="PeerPassThrough"/>):
/// little-endian integers and strings as <c>u16 length (0xFFFF: null) | UTF-8</c>.
/// </summary>
internal static class AnswerWire
{
    public const ushort NullText = ushort.MaxValue;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Writes an answer into a buffer that grows as needed. A string longer than its length field can say marks the
    /// whole answer failed: it is never cut, since a cut value is a different value (the asker asks elsewhere).
    /// </summary>
    public struct Writer(int capacity)
    {
        private byte[] _buffer = new byte[Math.Max(16, capacity)];

        public int Length { get; private set; }

        public bool Failed { get; private set; }

        private Span<byte> Take(int n)
        {
            if (Length + n > _buffer.Length) Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, Length + n));
            Span<byte> s = _buffer.AsSpan(Length, n);
            Length += n;
            return s;
        }

        public void Byte(byte b) => Take(1)[0] = b;

        public void UShort(ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(Take(2), v);

        public void Int(int v) => BinaryPrimitives.WriteInt32LittleEndian(Take(4), v);

        public void Long(long v) => BinaryPrimitives.WriteInt64LittleEndian(Take(8), v);

        public void Bytes(ReadOnlySpan<byte> b) => b.CopyTo(Take(b.Length));

        public void Text(string? s)
        {
            if (s is null)
            {
                UShort(NullText);
                return;
            }
            int n = Encoding.UTF8.GetByteCount(s);
            if (n >= NullText)
            {
                Failed = true;
                return;
            }
            UShort((ushort)n);
            Encoding.UTF8.GetBytes(s, Take(n));
        }

        /// <summary>The answer, or null when it failed or is longer than <paramref name="maxLength"/>.</summary>
        public readonly byte[]? ToArray(int maxLength) => Failed || Length > maxLength ? null : _buffer.AsSpan(0, Length).ToArray();
    }

    /// <summary>Reads an answer; every method says false instead of reading past the end.</summary>
    public ref struct Reader(ReadOnlySpan<byte> from)
    {
        private readonly ReadOnlySpan<byte> _from = from;
        private int _at;

        public readonly bool AtEnd => _at == _from.Length;

        public readonly int Remaining => _from.Length - _at;

        /// <summary>The next <paramref name="n"/> bytes, consumed; false (and nothing consumed) when fewer are left.</summary>
        private bool Take(int n, out ReadOnlySpan<byte> taken)
        {
            taken = default;
            if (n < 0 || Remaining < n) return false;
            taken = _from.Slice(_at, n);
            _at += n;
            return true;
        }

        public bool Byte(out byte b)
        {
            bool ok = Take(1, out ReadOnlySpan<byte> s);
            b = ok ? s[0] : (byte)0;
            return ok;
        }

        public bool UShort(out ushort v)
        {
            bool ok = Take(2, out ReadOnlySpan<byte> s);
            v = ok ? BinaryPrimitives.ReadUInt16LittleEndian(s) : (ushort)0;
            return ok;
        }

        public bool Int(out int v)
        {
            bool ok = Take(4, out ReadOnlySpan<byte> s);
            v = ok ? BinaryPrimitives.ReadInt32LittleEndian(s) : 0;
            return ok;
        }

        public bool Long(out long v)
        {
            bool ok = Take(8, out ReadOnlySpan<byte> s);
            v = ok ? BinaryPrimitives.ReadInt64LittleEndian(s) : 0;
            return ok;
        }

        public bool Bytes(int n, out byte[] b)
        {
            bool ok = Take(n, out ReadOnlySpan<byte> s);
            b = ok ? s.ToArray() : [];
            return ok;
        }

        public bool Text(out string? s)
        {
            s = null;
            if (!UShort(out ushort n)) return false;
            if (n == NullText) return true;
            // Strict: a value with invalid UTF-8 is refused, never turned into a different value.
            if (!Take(n, out ReadOnlySpan<byte> bytes) || !Utf8.IsValid(bytes)) return false;
            s = StrictUtf8.GetString(bytes);
            return true;
        }
    }
}
