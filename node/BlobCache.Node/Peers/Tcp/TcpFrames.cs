using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using BlobCache.Store;

namespace BlobCache.Node.Peers.Tcp;

/// <summary>What a framed-TCP answer says.</summary>
public enum TcpStatus : byte
{
    Ok = 0,
    NotFound = 1,
    Invalid = 2,
    BlobChanged = 3,
    OriginFailed = 4,
    /// <summary>Turned away by the owner's bounds (--max-peer-requests, --peer-rate-limit): try the next owner.</summary>
    Refused = 5,
    /// <summary>Every send slot of the owner is taken (--max-peer-sends): the body lists holders to ask (<see cref="PeerHolders"/>).</summary>
    Busy = 6,
}

/// <summary>
/// One decoded framed-TCP request: a chunk, or (<see cref="Metadata"/>) a blob's properties, which the peer answers
/// from its cache or its owners, or only from its cache or Blob when <see cref="Direct"/> (<see cref="Mesh.Reading.MetadataRoute"/>);
/// with <see cref="Content"/> the asker also wants the blob's bytes if it is one chunk (<see cref="Mesh.Reading.OneChunkBlob"/>).
/// </summary>
public sealed record TcpFetch(ChunkId Id, long BlobLength, bool Fill, bool WarmOnly, string From, bool Metadata = false, bool Direct = false, bool Content = false);

/// <summary>
/// The framed-TCP peer transport's wire format. It shares the gRPC port: a connection that opens with
/// <see cref="Magic"/> is ours, anything else is HTTP/2. Then, per request on that connection, one at a time:
/// <code>
/// request:  u32 body length | u8 flags (1 fill, 2 warm-only, 4 metadata, 8 direct, 16 content) | i64 index | i64 blob length | 5 × (u16 length | UTF-8): account, container, blob, etag, from
///           (a metadata request has no other flag than direct and content, length 0, and index 0 for a blob's properties (with an
///           empty etag) or 1 for a passed-through read (no container or blob; the etag field holds its <see cref="Origin.PassThroughKey"/>);
///           content, for a blob's properties only, asks for the blob's bytes too when it is one chunk)
/// answer:   u8 'A' (sent as soon as the request is read, before any fill: a talking owner is working)
///           u8 status | u8 source | u16 0 | i32 length | u64 checksum     (little-endian)
///           then, when status is Ok and not warm-only, length bytes of chunk (of a metadata request: <see cref="PeerMetadata"/>,
///           its checksum XxHash3); when Busy, length bytes of holders
///           (<see cref="PeerHolders"/>); otherwise length bytes of UTF-8 error text
///           after an Ok answer to a content request, a second answer: Ok with the chunk (length bytes, its checksum
///           the chunk's), or NotFound with length 0 (no bytes: the blob is not one chunk, or the peer has not got them)
/// </code>
/// The chunk bytes are sent raw from the owner's pooled buffer and received straight into the requester's.
/// </summary>
public static class TcpFrames
{
    public static ReadOnlySpan<byte> Magic => "BCT1"u8;
    public const byte Accepted = (byte)'A';
    public const int AnswerBytes = 16;
    /// <summary>Bigger requests are a broken peer: names are at most a few KiB.</summary>
    public const int MaxRequestBytes = 16 * 1024;
    public const int MaxErrorBytes = 1024;
    private const byte FillFlag = 1, WarmFlag = 2, MetadataFlag = 4, DirectFlag = 8, ContentFlag = 16;
    /// <summary>What a metadata request asks for, in its index field.</summary>
    public const long MetadataOfBlob = 0, MetadataPassThrough = 1;
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Bytes <see cref="WriteRequest"/> needs.</summary>
    public static int RequestBytes(ChunkId id, string from) =>
        4 + 1 + 8 + 8 + 5 * 2 + Encoding.UTF8.GetByteCount(id.Account) + Encoding.UTF8.GetByteCount(id.Container)
        + Encoding.UTF8.GetByteCount(id.Blob) + Encoding.UTF8.GetByteCount(id.ETag) + Encoding.UTF8.GetByteCount(from);

    public static int WriteRequest(Span<byte> to, ChunkId id, long blobLength, bool fill, bool warmOnly, string from) =>
        WriteRequest(to, id, blobLength, (byte)((fill ? FillFlag : 0) | (warmOnly ? WarmFlag : 0)), from);

    /// <summary>
    /// A metadata request: <paramref name="id"/> names a blob (index <see cref="MetadataOfBlob"/>, empty etag), or a
    /// passed-through read (index <see cref="MetadataPassThrough"/>, its key in the etag field). <paramref name="content"/>:
    /// the blob's bytes too, when it is one chunk (a blob's properties only).
    /// </summary>
    public static int WriteMetadataRequest(Span<byte> to, ChunkId id, bool direct, bool content, string from) =>
        WriteRequest(to, id, 0, (byte)(MetadataFlag | (direct ? DirectFlag : 0) | (content ? ContentFlag : 0)), from);

    private static int WriteRequest(Span<byte> to, ChunkId id, long blobLength, byte flags, string from)
    {
        int at = 4;
        to[at++] = flags;
        BinaryPrimitives.WriteInt64LittleEndian(to[at..], id.Index);
        at += 8;
        BinaryPrimitives.WriteInt64LittleEndian(to[at..], blobLength);
        at += 8;
        at += WriteString(to[at..], id.Account);
        at += WriteString(to[at..], id.Container);
        at += WriteString(to[at..], id.Blob);
        at += WriteString(to[at..], id.ETag);
        at += WriteString(to[at..], from);
        BinaryPrimitives.WriteUInt32LittleEndian(to, (uint)(at - 4));
        return at;
    }

    private static int WriteString(Span<byte> to, string s)
    {
        int n = Encoding.UTF8.GetBytes(s, to[2..]);
        BinaryPrimitives.WriteUInt16LittleEndian(to, checked((ushort)n));
        return 2 + n;
    }

    /// <summary>
    /// Takes one whole request off the front of <paramref name="buffer"/>. False with no error: more bytes are
    /// needed. False with an error: the stream is broken and the connection should close.
    /// </summary>
    public static bool TryReadRequest(ref ReadOnlySequence<byte> buffer, out TcpFetch? fetch, out string? error)
    {
        fetch = null;
        error = null;
        if (buffer.Length < 4) return false;
        Span<byte> prefix = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(prefix);
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(prefix);
        if (length < 1 + 8 + 8 + 5 * 2 || length > MaxRequestBytes)
        {
            error = $"a request of {length} bytes";
            return false;
        }
        if (buffer.Length < 4 + length) return false;
        ReadOnlySequence<byte> body = buffer.Slice(4, length);
        byte[]? rented = body.IsSingleSegment ? null : ArrayPool<byte>.Shared.Rent((int)length);
        try
        {
            ReadOnlySpan<byte> b;
            if (rented is null)
            {
                b = body.FirstSpan;
            }
            else
            {
                body.CopyTo(rented);
                b = rented.AsSpan(0, (int)length);
            }
            byte flags = b[0];
            long index = BinaryPrimitives.ReadInt64LittleEndian(b[1..]);
            long blobLength = BinaryPrimitives.ReadInt64LittleEndian(b[9..]);
            bool metadata = (flags & MetadataFlag) != 0;
            bool content = (flags & ContentFlag) != 0;
            if (metadata ? (flags & ~(MetadataFlag | DirectFlag | ContentFlag)) != 0 || (content && index != MetadataOfBlob) : (flags & ~(FillFlag | WarmFlag)) != 0)
            {
                // Strict, so one request has one encoding (the magic's version names any future flag).
                error = $"unknown request flags 0x{flags:X2}";
                return false;
            }
            if (index < 0)
            {
                // Checked here: a ChunkId refuses it by throwing, and nothing a peer sends may throw.
                error = $"a negative chunk index ({index})";
                return false;
            }
            int at = 17;
            if (!TryReadString(b, ref at, out string account) || !TryReadString(b, ref at, out string container) || !TryReadString(b, ref at, out string blob)
                || !TryReadString(b, ref at, out string etag) || !TryReadString(b, ref at, out string from) || at != b.Length)
            {
                error = "a request whose names do not add up to its length";
                return false;
            }
            if (metadata && (blobLength != 0 || index switch
                {
                    MetadataOfBlob => etag.Length != 0,
                    MetadataPassThrough => etag.Length == 0 || container.Length != 0 || blob.Length != 0,
                    _ => true,
                }))
            {
                error = "a metadata request that names a chunk";
                return false;
            }
            fetch = new TcpFetch(new ChunkId(account, container, blob, etag, index), blobLength, (flags & FillFlag) != 0, (flags & WarmFlag) != 0, from,
                metadata, (flags & DirectFlag) != 0, content);
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
        buffer = buffer.Slice(4 + length);
        return true;
    }

    private static bool TryReadString(ReadOnlySpan<byte> b, ref int at, out string s)
    {
        s = "";
        if (b.Length - at < 2) return false;
        int n = BinaryPrimitives.ReadUInt16LittleEndian(b[at..]);
        at += 2;
        if (b.Length - at < n) return false;
        try
        {
            // Strict: a name with invalid UTF-8 is refused, never turned into a different name with U+FFFD in it.
            s = StrictUtf8.GetString(b.Slice(at, n));
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
        at += n;
        return true;
    }

    public static void WriteAnswer(Span<byte> to, TcpStatus status, byte source, int length, ulong checksum)
    {
        to[0] = (byte)status;
        to[1] = source;
        to[2] = to[3] = 0;
        BinaryPrimitives.WriteInt32LittleEndian(to[4..], length);
        BinaryPrimitives.WriteUInt64LittleEndian(to[8..], checksum);
    }

    public static (TcpStatus Status, byte Source, int Length, ulong Checksum) ReadAnswer(ReadOnlySpan<byte> from) =>
        ((TcpStatus)from[0], from[1], BinaryPrimitives.ReadInt32LittleEndian(from[4..]), BinaryPrimitives.ReadUInt64LittleEndian(from[8..]));

    /// <summary>
    /// Reads the second answer that follows an Ok answer to a content request: null when it is sound, with
    /// <paramref name="length"/> bytes to follow (0: none come) and their checksum; else what is wrong. Bytes may come
    /// only when the properties just received make the blob one chunk (<paramref name="expected"/>, its length; 0 when
    /// it is not), and exactly that many: a peer never chooses how much this node reads or keeps.
    /// </summary>
    public static string? ReadContentAnswer(ReadOnlySpan<byte> answer, int expected, out int length, out ulong checksum)
    {
        (TcpStatus status, _, length, checksum) = ReadAnswer(answer);
        if (status == TcpStatus.NotFound && length == 0) return null;
        if (status != TcpStatus.Ok || expected <= 0) return $"bytes with properties as {status} of {length} bytes";
        return length == expected ? null : $"bytes with properties of {length} bytes, expected {expected}";
    }

    /// <summary>Where the owner found a chunk, as one byte on the wire and as the word the rest of the node uses.</summary>
    public static string SourceName(byte source) => source switch { 0 => "memory", 1 => "disk", _ => "blob" };
}
