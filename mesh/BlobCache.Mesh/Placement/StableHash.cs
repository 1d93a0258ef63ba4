using System.Buffers;
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Text;

namespace BlobCache.Mesh.Placement;

/// <summary>
/// 64-bit hashes that every node computes identically: they decide who owns what, so they are part of the
/// wire contract. Never change their output; the known-value tests pin it.
/// </summary>
public static class StableHash
{
    // Strings up to this many chars are encoded on the stack; longer ones rent a buffer.
    private const int StackChars = 256;

    /// <summary>XxHash3 (seed 0) of the bytes.</summary>
    public static ulong Of(ReadOnlySpan<byte> data) => XxHash3.HashToUInt64(data);

    /// <summary>XxHash3 of the UTF-8 encoding of <paramref name="text"/>. Not string.GetHashCode, which is per-process.</summary>
    public static ulong Of(string text) => Of(text.AsSpan());

    /// <inheritdoc cref="Of(string)"/>
    public static ulong Of(ReadOnlySpan<char> text)
    {
        if (text.Length <= StackChars)
        {
            Span<byte> utf8 = stackalloc byte[StackChars * 3];
            int n = Encoding.UTF8.GetBytes(text, utf8);
            return Of(utf8[..n]);
        }
        byte[] rented = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(text.Length));
        try
        {
            int n = Encoding.UTF8.GetBytes(text, rented);
            return Of(rented.AsSpan(0, n));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Strong mix of two 64-bit values (murmur3 finalizer on both sides). A bijection in each argument when the
    /// other is fixed, so distinct probes of one key never collide and distinct keys never share a probe index.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mix(ulong a, ulong b) => MixPremixed(a, Premix(b));

    /// <summary>The right-hand half of <see cref="Mix"/>, for callers that mix many values with the same b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Premix(ulong b) => Finalize(b + 0x9E3779B97F4A7C15UL);

    /// <summary>Mix(a, b) given Premix(b).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong MixPremixed(ulong a, ulong premixedB) => Finalize(a ^ premixedB);

    /// <summary>The key hash of one chunk of a blob. Container and blob are hashed apart so "a/b"+"c" ≠ "a"+"b/c".</summary>
    public static ulong ChunkKey(string container, string blob, long chunkIndex) =>
        ChunkKey(BlobKey(container, blob), chunkIndex);

    /// <summary>The hash of a blob path; cache it and use <see cref="ChunkKey(ulong, long)"/> for many chunks.</summary>
    public static ulong BlobKey(string container, string blob) => Mix(Of(container), Of(blob));

    /// <summary>The key hash of chunk <paramref name="chunkIndex"/> of the blob whose <see cref="BlobKey"/> is given.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong ChunkKey(ulong blobKey, long chunkIndex) => Mix(blobKey, (ulong)chunkIndex);

    // Murmur3 fmix64: a bijection with full avalanche.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Finalize(ulong x)
    {
        x ^= x >> 33;
        x *= 0xFF51AFD7ED558CCDUL;
        x ^= x >> 33;
        x *= 0xC4CEB9FE1A85EC53UL;
        x ^= x >> 33;
        return x;
    }
}
