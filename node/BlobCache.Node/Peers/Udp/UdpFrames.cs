using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;

namespace BlobCache.Node.Peers.Udp;

/*
 Frames of the UDP chunk transport. Every frame is one LiteNetLib message on a ReliableOrdered channel (LiteNetLib
 fragments and reassembles messages bigger than the MTU; this format never relies on more than that). All integers
 are little-endian; a string is a u16 byte count followed by that many bytes of strict UTF-8.

   header (6 bytes, every frame)
     u8   version      = 1 (a frame of any other version is dropped and counted)
     u8   kind         1 Fetch, 2 Accepted, 3 Answer, 4 Piece, 5 Cancel
     u32  request id   chosen by the requester, unique per connection while the request lives

   Fetch     requester -> owner
     u8   flags        bit 0 fill, bit 1 warm-only; other bits must be 0
     i64  index        chunk index, >= 0
     i64  blob length  > 0
     str  account      <= 256 bytes
     str  container    <= 256 bytes
     str  blob         <= 4096 bytes (1024 characters of up to 4 UTF-8 bytes)
     str  etag         <= 256 bytes
     str  from         <= 256 bytes (the requester's node id)

   Accepted  owner -> requester, sent as soon as a valid Fetch arrives, before the owner fills the chunk: "alive,
             working on it". No fields. (The requester's answer timeout ends with the first Accepted or Answer.)

   Answer    owner -> requester, once per request
     u8   status       0 Ok, 1 NotFound, 2 Error, 3 Busy, 4 BlobChanged
     Ok:       i32 length (1..MaxChunkBytes), u64 checksum (XxHash3 of the chunk), u8 source (0 memory, 1 disk, 2 blob)
     NotFound: nothing (not cached and fill was false)
     Error:    str message (<= 1024 bytes)
     Busy:     the holders to ask instead (every send slot of the owner is taken), as PeerHolders encodes them:
               u8 count (<= 4) | count x (u8 length (1..200) | UTF-8 node id)
     BlobChanged: str message (<= 1024 bytes): the owner's metadata has the blob at another ETag or length

   Piece     owner -> requester, after an Ok answer (never for warm-only), in order
     i32  offset       of the data in the chunk: exactly the number of bytes sent before it
     ...  data         the rest of the frame, 1..MaxPieceBytes bytes

   Cancel    requester -> owner: the requester gave up (timeout, cancellation); the owner stops sending. No fields.

 Nothing may follow the last field: trailing bytes make a frame invalid. The decoder never throws and allocates only
 the strings of a Fetch or the message of an Error, each within the caps above; everything else is a view of the input.
*/

/// <summary>Frame kinds of the UDP chunk transport (see the format above).</summary>
public enum UdpFrameKind : byte
{
    Fetch = 1,
    Accepted = 2,
    Answer = 3,
    Piece = 4,
    Cancel = 5,
}

/// <summary>Status of an <see cref="UdpFrameKind.Answer"/>.</summary>
public enum UdpAnswerStatus : byte
{
    Ok = 0,
    NotFound = 1,
    Error = 2,
    Busy = 3,
    BlobChanged = 4,
}

/// <summary>A decoded Fetch request.</summary>
public sealed record UdpFetch(string Account, string Container, string Blob, string ETag, long Index, long BlobLength, bool Fill, bool WarmOnly, string From);

/// <summary>One decoded frame; <see cref="Data"/> is a view of the input (Piece only) valid while the input is.</summary>
public ref struct UdpFrame
{
    public UdpFrameKind Kind;
    public uint RequestId;
    /// <summary>Fetch only.</summary>
    public UdpFetch? Fetch;
    /// <summary>Answer only.</summary>
    public UdpAnswerStatus Status;
    /// <summary>Answer Ok: chunk length.</summary>
    public int Length;
    /// <summary>Answer Ok: XxHash3 of the chunk.</summary>
    public ulong Checksum;
    /// <summary>Answer Ok: "memory", "disk" or "blob".</summary>
    public string? Source;
    /// <summary>Answer Error and BlobChanged.</summary>
    public string? Message;
    /// <summary>Answer Busy.</summary>
    public PeerHolders Holders;
    /// <summary>Piece: offset of <see cref="Data"/> in the chunk.</summary>
    public int Offset;
    /// <summary>Piece: the bytes.</summary>
    public ReadOnlySpan<byte> Data;
}

/// <summary>Encoder and validating decoder of the UDP chunk transport frames.</summary>
public static class UdpFrames
{
    public const byte Version = 1;
    public const int HeaderBytes = 6;
    public const int MaxAccountBytes = 256;
    public const int MaxContainerBytes = 256;
    public const int MaxBlobBytes = 4096;
    public const int MaxETagBytes = 256;
    public const int MaxFromBytes = 256;
    public const int MaxMessageBytes = 1024;
    /// <summary>Largest chunk an answer may announce (every transport's cap).</summary>
    public const int MaxChunkBytes = PeerLimits.MaxChunkBytes;
    /// <summary>
    /// Data bytes per piece: ~48 LiteNetLib fragments at a 1400-byte MTU, and small enough that the buffer LiteNetLib
    /// reassembles a piece into stays under the 85,000-byte large-object threshold (bigger pieces would put one LOH
    /// allocation per piece on the receiving side).
    /// </summary>
    public const int PieceBytes = 64 * 1024;
    /// <summary>Largest piece accepted (a future sender may use bigger pieces, up to this).</summary>
    public const int MaxPieceBytes = 256 * 1024;
    public const int PieceHeaderBytes = HeaderBytes + 4;
    /// <summary>Largest valid frame of any kind: a Fetch with every string at its cap.</summary>
    public const int MaxFrameBytes = MaxPieceBytes + PieceHeaderBytes;
    public const int MaxFetchBytes = HeaderBytes + 1 + 8 + 8 + 5 * 2 + MaxAccountBytes + MaxContainerBytes + MaxBlobBytes + MaxETagBytes + MaxFromBytes;
    public const int MaxAnswerBytes = HeaderBytes + 1 + 2 + MaxMessageBytes;

    private const byte FlagFill = 1, FlagWarmOnly = 2;
    private static readonly string[] Sources = ["memory", "disk", "blob"];

    /// <summary>Source code of an Ok answer: 0 memory, 1 disk, 2 blob.</summary>
    public static byte SourceCode(string source) => source switch { "memory" => 0, "disk" => 1, _ => 2 };

    // ---- encoding (the caller supplies a buffer of the Max*Bytes size of the frame kind) ----

    /// <summary>Writes a Fetch; throws <see cref="ArgumentException"/> when a field is over its cap (a local bug, not network input).</summary>
    public static int WriteFetch(Span<byte> buffer, uint requestId, UdpFetch fetch)
    {
        int p = WriteHeader(buffer, UdpFrameKind.Fetch, requestId);
        buffer[p++] = (byte)((fetch.Fill ? FlagFill : 0) | (fetch.WarmOnly ? FlagWarmOnly : 0));
        BinaryPrimitives.WriteInt64LittleEndian(buffer[p..], fetch.Index);
        p += 8;
        BinaryPrimitives.WriteInt64LittleEndian(buffer[p..], fetch.BlobLength);
        p += 8;
        p += WriteString(buffer[p..], fetch.Account, MaxAccountBytes);
        p += WriteString(buffer[p..], fetch.Container, MaxContainerBytes);
        p += WriteString(buffer[p..], fetch.Blob, MaxBlobBytes);
        p += WriteString(buffer[p..], fetch.ETag, MaxETagBytes);
        p += WriteString(buffer[p..], fetch.From, MaxFromBytes);
        return p;
    }

    public static int WriteAccepted(Span<byte> buffer, uint requestId) => WriteHeader(buffer, UdpFrameKind.Accepted, requestId);

    public static int WriteCancel(Span<byte> buffer, uint requestId) => WriteHeader(buffer, UdpFrameKind.Cancel, requestId);

    public static int WriteOk(Span<byte> buffer, uint requestId, int length, ulong checksum, byte source)
    {
        int p = WriteHeader(buffer, UdpFrameKind.Answer, requestId);
        buffer[p++] = (byte)UdpAnswerStatus.Ok;
        BinaryPrimitives.WriteInt32LittleEndian(buffer[p..], length);
        p += 4;
        BinaryPrimitives.WriteUInt64LittleEndian(buffer[p..], checksum);
        p += 8;
        buffer[p++] = source;
        return p;
    }

    public static int WriteNotFound(Span<byte> buffer, uint requestId)
    {
        int p = WriteHeader(buffer, UdpFrameKind.Answer, requestId);
        buffer[p++] = (byte)UdpAnswerStatus.NotFound;
        return p;
    }

    public static int WriteBusy(Span<byte> buffer, uint requestId, in PeerHolders holders)
    {
        int p = WriteHeader(buffer, UdpFrameKind.Answer, requestId);
        buffer[p++] = (byte)UdpAnswerStatus.Busy;
        return p + holders.Encode(buffer[p..]);
    }

    /// <summary>Writes an Error (or BlobChanged) answer; a message over the cap is cut at a character boundary.</summary>
    public static int WriteError(Span<byte> buffer, uint requestId, string message, UdpAnswerStatus status = UdpAnswerStatus.Error)
    {
        int p = WriteHeader(buffer, UdpFrameKind.Answer, requestId);
        buffer[p++] = (byte)status;
        if (Encoding.UTF8.GetByteCount(message) > MaxMessageBytes)
        {
            int chars = Math.Min(message.Length, MaxMessageBytes / 4);
            if (chars > 0 && char.IsHighSurrogate(message[chars - 1])) chars--;
            message = message[..chars];
        }
        p += WriteString(buffer[p..], message, MaxMessageBytes);
        return p;
    }

    /// <summary>Writes a Piece's header; the caller copies the data to <c>buffer[PieceHeaderBytes..]</c>.</summary>
    public static int WritePieceHeader(Span<byte> buffer, uint requestId, int offset)
    {
        int p = WriteHeader(buffer, UdpFrameKind.Piece, requestId);
        BinaryPrimitives.WriteInt32LittleEndian(buffer[p..], offset);
        return p + 4;
    }

    private static int WriteHeader(Span<byte> buffer, UdpFrameKind kind, uint requestId)
    {
        buffer[0] = Version;
        buffer[1] = (byte)kind;
        BinaryPrimitives.WriteUInt32LittleEndian(buffer[2..], requestId);
        return HeaderBytes;
    }

    private static int WriteString(Span<byte> buffer, string value, int cap)
    {
        int n = Encoding.UTF8.GetByteCount(value);
        if (n > cap) throw new ArgumentException($"a {n}-byte string is over the {cap}-byte cap of the frame format", nameof(value));
        BinaryPrimitives.WriteUInt16LittleEndian(buffer, (ushort)n);
        Encoding.UTF8.GetBytes(value, buffer[2..]);
        return 2 + n;
    }

    // ---- decoding: bounds-checked, never throws ----

    /// <summary>
    /// Decodes one frame. False, with a short reason, for anything that is not exactly a valid frame: wrong version,
    /// unknown kind, short or long input, a length over its cap, invalid UTF-8, unknown flags or codes, bad numbers.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> input, out UdpFrame frame, out string? error)
    {
        frame = default;
        error = null;
        if (input.Length < HeaderBytes) return Fail(out error, "shorter than a header");
        if (input.Length > MaxFrameBytes) return Fail(out error, "longer than any frame");
        if (input[0] != Version) return Fail(out error, $"version {input[0]}");
        frame.Kind = (UdpFrameKind)input[1];
        frame.RequestId = BinaryPrimitives.ReadUInt32LittleEndian(input[2..]);
        ReadOnlySpan<byte> body = input[HeaderBytes..];
        switch (frame.Kind)
        {
            case UdpFrameKind.Accepted:
            case UdpFrameKind.Cancel:
                return body.IsEmpty || Fail(out error, "trailing bytes");
            case UdpFrameKind.Fetch:
                return TryDecodeFetch(body, ref frame, out error);
            case UdpFrameKind.Answer:
                return TryDecodeAnswer(body, ref frame, out error);
            case UdpFrameKind.Piece:
                if (body.Length < 4) return Fail(out error, "short piece");
                frame.Offset = BinaryPrimitives.ReadInt32LittleEndian(body);
                frame.Data = body[4..];
                if (frame.Offset < 0 || frame.Offset >= MaxChunkBytes) return Fail(out error, "piece offset out of range");
                if (frame.Data.IsEmpty) return Fail(out error, "empty piece");
                if (frame.Data.Length > MaxPieceBytes) return Fail(out error, "piece too long");
                return true;
            default:
                return Fail(out error, $"kind {input[1]}");
        }
    }

    private static bool TryDecodeFetch(ReadOnlySpan<byte> body, ref UdpFrame frame, out string? error)
    {
        if (body.Length < 17) return Fail(out error, "short fetch");
        byte flags = body[0];
        if ((flags & ~(FlagFill | FlagWarmOnly)) != 0) return Fail(out error, "unknown flags");
        long index = BinaryPrimitives.ReadInt64LittleEndian(body[1..]);
        long blobLength = BinaryPrimitives.ReadInt64LittleEndian(body[9..]);
        if (index < 0) return Fail(out error, "negative index");
        if (blobLength <= 0) return Fail(out error, "non-positive blob length");
        int p = 17;
        if (!TryReadString(body, ref p, MaxAccountBytes, out string? account, out error)
            || !TryReadString(body, ref p, MaxContainerBytes, out string? container, out error)
            || !TryReadString(body, ref p, MaxBlobBytes, out string? blob, out error)
            || !TryReadString(body, ref p, MaxETagBytes, out string? etag, out error)
            || !TryReadString(body, ref p, MaxFromBytes, out string? from, out error))
            return false;
        if (p != body.Length) return Fail(out error, "trailing bytes");
        frame.Fetch = new UdpFetch(account!, container!, blob!, etag!, index, blobLength, (flags & FlagFill) != 0, (flags & FlagWarmOnly) != 0, from!);
        return true;
    }

    private static bool TryDecodeAnswer(ReadOnlySpan<byte> body, ref UdpFrame frame, out string? error)
    {
        if (body.IsEmpty) return Fail(out error, "short answer");
        frame.Status = (UdpAnswerStatus)body[0];
        switch (frame.Status)
        {
            case UdpAnswerStatus.Ok:
                if (body.Length != 1 + 4 + 8 + 1) return Fail(out error, "ok answer of wrong length");
                frame.Length = BinaryPrimitives.ReadInt32LittleEndian(body[1..]);
                frame.Checksum = BinaryPrimitives.ReadUInt64LittleEndian(body[5..]);
                byte source = body[13];
                if (frame.Length <= 0 || frame.Length > MaxChunkBytes) return Fail(out error, "chunk length out of range");
                if (source >= Sources.Length) return Fail(out error, "unknown source");
                frame.Source = Sources[source];
                error = null;
                return true;
            case UdpAnswerStatus.NotFound:
                error = null;
                return body.Length == 1 || Fail(out error, "trailing bytes");
            case UdpAnswerStatus.Busy:
                error = PeerHolders.TryDecode(body[1..], out frame.Holders);
                return error is null;
            case UdpAnswerStatus.Error:
            case UdpAnswerStatus.BlobChanged:
                int p = 1;
                if (!TryReadString(body, ref p, MaxMessageBytes, out string? message, out error)) return false;
                if (p != body.Length) return Fail(out error, "trailing bytes");
                frame.Message = message;
                return true;
            default:
                return Fail(out error, "unknown status");
        }
    }

    private static bool TryReadString(ReadOnlySpan<byte> body, ref int p, int cap, out string? value, out string? error)
    {
        value = null;
        if (body.Length - p < 2) return Fail(out error, "short string length");
        int n = BinaryPrimitives.ReadUInt16LittleEndian(body[p..]);
        p += 2;
        if (n > cap) return Fail(out error, "string over its cap");
        if (body.Length - p < n) return Fail(out error, "string past the end");
        ReadOnlySpan<byte> bytes = body.Slice(p, n);
        if (!Utf8.IsValid(bytes)) return Fail(out error, "invalid UTF-8");
        value = Encoding.UTF8.GetString(bytes);
        p += n;
        error = null;
        return true;
    }

    private static bool Fail(out string? error, string why)
    {
        error = why;
        return false;
    }
}
