using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;

namespace BlobCache.Store;

/// <summary>
/// Identity of one chunk. An overwritten blob has a new ETag, so versions never mix.
/// </summary>
public readonly record struct ChunkId(string Account, string Container, string Blob, string ETag, long Index)
{
    // Null fields would hash and serialise like empty ones and come back from disk as a different id.
    public string Account { get; init; } = Account ?? throw new ArgumentNullException(nameof(Account));
    public string Container { get; init; } = Container ?? throw new ArgumentNullException(nameof(Container));
    public string Blob { get; init; } = Blob ?? throw new ArgumentNullException(nameof(Blob));
    public string ETag { get; init; } = ETag ?? throw new ArgumentNullException(nameof(ETag));
    public long Index { get; init; } = Index >= 0 ? Index : throw new ArgumentOutOfRangeException(nameof(Index));

    private const int StackBytes = 1024;

    /// <summary>
    /// Stable 64-bit hash: XxHash3 (seed 0) of the canonical encoding (<see cref="WriteCanonical"/>). Names the
    /// chunk's file on disk, so it must never change; a known-value test pins it. Computed on each call (no field,
    /// so <c>with</c> can never leave a stale hash behind); it does not allocate for ids up to 1 KiB.
    /// </summary>
    public ulong Hash
    {
        get
        {
            int n = CanonicalLength;
            if (n <= StackBytes)
            {
                Span<byte> buffer = stackalloc byte[StackBytes];
                WriteCanonical(buffer);
                return XxHash3.HashToUInt64(buffer[..n]);
            }
            byte[] rented = ArrayPool<byte>.Shared.Rent(n);
            try
            {
                WriteCanonical(rented);
                return XxHash3.HashToUInt64(rented.AsSpan(0, n));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Bytes of the canonical encoding: four length-prefixed UTF-8 strings and the index.</summary>
    internal int CanonicalLength =>
        (4 * 4) + 8 + Utf8(Account) + Utf8(Container) + Utf8(Blob) + Utf8(ETag);

    /// <summary>
    /// Each string as a 32-bit little-endian UTF-8 byte count then its bytes, then the index as 64-bit
    /// little-endian. The length prefixes keep fields from running together ("a","bc" ≠ "ab","c").
    /// Returns the bytes written.
    /// </summary>
    internal int WriteCanonical(Span<byte> destination)
    {
        int at = 0;
        at += WriteString(destination[at..], Account);
        at += WriteString(destination[at..], Container);
        at += WriteString(destination[at..], Blob);
        at += WriteString(destination[at..], ETag);
        BinaryPrimitives.WriteInt64LittleEndian(destination[at..], Index);
        return at + 8;
    }

    /// <summary>"account/container/blob@etag#index".</summary>
    public override string ToString() => $"{Account}/{Container}/{Blob}@{ETag}#{Index}";

    private static int Utf8(string s) => Encoding.UTF8.GetByteCount(s);

    private static int WriteString(Span<byte> destination, string s)
    {
        int n = Encoding.UTF8.GetBytes(s, destination[4..]);
        BinaryPrimitives.WriteInt32LittleEndian(destination, n);
        return 4 + n;
    }
}
