using System.Buffers.Binary;
using System.Text;

namespace BlobCache.Fuzz.Engine;

/// <summary>Byte-level mutations: flips, boundary integers, inserts, deletes, truncation, splicing, repeated tokens.</summary>
public static class Mutator
{
    private static readonly ulong[] Boundaries =
    [
        0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
        0x1_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, ulong.MaxValue, ulong.MaxValue - 1,
    ];

    private static readonly byte[][] Decimals =
        [.. new[] { "0", "-1", "-0", "255", "256", "65535", "65536", "2147483647", "2147483648", "-2147483649", "4294967296",
            "9223372036854775807", "9223372036854775808", "99999999999999999999", "1e308", "NaN", "Infinity", "0x10", " 1", "1 " }
            .Select(Encoding.UTF8.GetBytes)];

    public static byte[] Mutate(byte[] input, byte[] other, Random random, IReadOnlyList<byte[]> dictionary, int maxBytes)
    {
        byte[] m = input;
        int rounds = 1 + random.Next(4);
        for (int r = 0; r < rounds; r++) m = Once(m, other, random, dictionary);
        return m.Length > maxBytes ? m[..maxBytes] : m;
    }

    private static byte[] Once(byte[] m, byte[] other, Random random, IReadOnlyList<byte[]> dictionary)
    {
        int at = random.Next(m.Length + 1);
        switch (random.Next(13))
        {
            case 0 when m.Length > 0: // bit flip
                m = (byte[])m.Clone();
                m[Math.Min(at, m.Length - 1)] ^= (byte)(1 << random.Next(8));
                return m;
            case 1 when m.Length > 0: // random byte
                m = (byte[])m.Clone();
                m[Math.Min(at, m.Length - 1)] = (byte)random.Next(256);
                return m;
            case 2: // boundary integer over 1, 2, 4 or 8 bytes, either byte order
            {
                int width = 1 << random.Next(4);
                if (m.Length < width) return m;
                m = (byte[])m.Clone();
                at = random.Next(m.Length - width + 1);
                ulong v = Boundaries[random.Next(Boundaries.Length)];
                if (random.Next(4) == 0) v = (ulong)random.NextInt64();
                Span<byte> field = m.AsSpan(at, width);
                Span<byte> le = stackalloc byte[8];
                if (random.Next(2) == 0) BinaryPrimitives.WriteUInt64LittleEndian(le, v);
                else BinaryPrimitives.WriteUInt64BigEndian(le, v << (8 * (8 - width)));
                le[..width].CopyTo(field);
                return m;
            }
            case 3: // insert random bytes
            {
                byte[] bytes = new byte[1 + random.Next(16)];
                random.NextBytes(bytes);
                return [.. m.AsSpan(0, at), .. bytes, .. m.AsSpan(at)];
            }
            case 4 when m.Length > 0: // delete a range
            {
                at = Math.Min(at, m.Length - 1);
                int n = 1 + random.Next(Math.Min(32, m.Length - at));
                return [.. m.AsSpan(0, at), .. m.AsSpan(at + n)];
            }
            case 5: // truncate
                return m[..at];
            case 6 when m.Length > 0: // duplicate a range elsewhere
            {
                int from = random.Next(m.Length), n = 1 + random.Next(Math.Min(64, m.Length - from));
                return [.. m.AsSpan(0, at), .. m.AsSpan(from, n), .. m.AsSpan(at)];
            }
            case 7: // splice: the head of this input, the tail of another
                return [.. m.AsSpan(0, at), .. other.AsSpan(random.Next(other.Length + 1))];
            case 8 when dictionary.Count > 0: // insert a token
                return [.. m.AsSpan(0, at), .. dictionary[random.Next(dictionary.Count)], .. m.AsSpan(at)];
            case 9 when dictionary.Count > 0: // overwrite with a token
            {
                byte[] token = dictionary[random.Next(dictionary.Count)];
                int end = Math.Min(m.Length, at + token.Length);
                return [.. m.AsSpan(0, at), .. token, .. m.AsSpan(end)];
            }
            case 10: // a token (or a byte) repeated many times: deep nesting, long runs, huge counts
            {
                byte[] token = dictionary.Count > 0 && random.Next(3) != 0 ? dictionary[random.Next(dictionary.Count)] : [(byte)random.Next(256)];
                int times = random.Next(3) switch { 0 => 2 + random.Next(14), 1 => 100 + random.Next(400), _ => 1000 + random.Next(4000) };
                var run = new byte[token.Length * times];
                for (int i = 0; i < times; i++) token.CopyTo(run, i * token.Length);
                return [.. m.AsSpan(0, at), .. run, .. m.AsSpan(at)];
            }
            case 11: // a decimal boundary (text formats)
                return [.. m.AsSpan(0, at), .. Decimals[random.Next(Decimals.Length)], .. m.AsSpan(Math.Min(m.Length, at + random.Next(4)))];
            default: // swap two bytes
                if (m.Length < 2) return m;
                m = (byte[])m.Clone();
                int a = random.Next(m.Length), b = random.Next(m.Length);
                (m[a], m[b]) = (m[b], m[a]);
                return m;
        }
    }
}
