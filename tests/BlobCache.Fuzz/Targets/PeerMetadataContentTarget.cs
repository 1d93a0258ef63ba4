using System.Buffers.Binary;
using BlobCache.Fuzz.Engine;
using BlobCache.Mesh.Reading;
using BlobCache.Node.Origin;
using BlobCache.Node.Peers;
using BlobCache.Node.Peers.Tcp;
using BlobCache.Store;

namespace BlobCache.Fuzz.Targets;

/// <summary>
/// A metadata owner's answer that carries a one-chunk blob's bytes, as the asker checks it: the properties through
/// <see cref="PeerMetadata.TryDecode"/>, the second answer through <see cref="TcpFrames.ReadContentAnswer"/> against
/// the length those properties give, and the bytes through <see cref="ReceivedChunk.Verify"/>. Input:
/// <c>u16 properties length | properties | 16-byte answer | bytes</c>. Never throws; bytes are taken only when the
/// properties make the blob one chunk, exactly its length, and matching the checksum that came with them.
/// </summary>
public sealed class PeerMetadataContentTarget : FuzzTarget
{
    private const int ChunkSize = PeerOwner.ChunkSize;

    public override string Name => "peer-metadata-content";

    public override byte[] Generate(Random random)
    {
        int length = random.Next(4) == 0 ? ChunkSize + random.Next(-1, 2) : random.Next(0, 5000);
        var info = new BlobInfo(length, "\"0x" + random.NextInt64().ToString("X") + "\"", DateTimeOffset.UnixEpoch, "application/octet-stream", null);
        var kind = random.Next(5) == 0 ? (PeerMetadataKind)random.Next(2, 4) : PeerMetadataKind.Found;
        byte[] properties = new PeerMetadata(kind, kind == PeerMetadataKind.Found ? info : null, TimeSpan.FromMilliseconds(random.Next(10_000))).Encode()!;
        bool none = random.Next(4) == 0 || kind != PeerMetadataKind.Found || !OneChunkBlob.Carried(length, ChunkSize);
        int sent = none ? 0 : random.Next(6) == 0 ? Math.Max(0, length + random.Next(-2, 3)) : length;
        byte[] bytes = new byte[sent];
        random.NextBytes(bytes);
        byte[] input = new byte[2 + properties.Length + TcpFrames.AnswerBytes + sent];
        BinaryPrimitives.WriteUInt16LittleEndian(input, (ushort)properties.Length);
        properties.CopyTo(input, 2);
        ulong checksum = ChecksumOf(bytes);
        if (random.Next(8) == 0) checksum ^= 1;
        TcpFrames.WriteAnswer(input.AsSpan(2 + properties.Length), none ? TcpStatus.NotFound : TcpStatus.Ok, (byte)random.Next(3), sent, checksum);
        bytes.CopyTo(input, 2 + properties.Length + TcpFrames.AnswerBytes);
        return input;
    }

    private static ulong ChecksumOf(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty) return 0;
        ChunkBuffer chunk = ChunkBuffer.Rent(bytes.Length);
        bytes.CopyTo(chunk.WritableMemory.Span);
        chunk.Seal();
        ulong checksum = chunk.Checksum;
        chunk.Release();
        return checksum;
    }

    /// <summary>What the asker took: the properties, and the bytes when it took them.</summary>
    private sealed record Taken(PeerMetadata Properties, byte[]? Bytes, ulong Checksum);

    public override object? Run(object prepared)
    {
        ReadOnlySpan<byte> input = (byte[])prepared;
        if (input.Length < 2) return null;
        int n = BinaryPrimitives.ReadUInt16LittleEndian(input);
        if (input.Length < 2 + n + TcpFrames.AnswerBytes) return null;
        if (PeerMetadata.TryDecode(input.Slice(2, n), out PeerMetadata answer) is not null) return null;
        int expected = answer is { Kind: PeerMetadataKind.Found, Info: { } info } && OneChunkBlob.Carried(info.Length, ChunkSize) ? (int)info.Length : 0;
        if (TcpFrames.ReadContentAnswer(input.Slice(2 + n, TcpFrames.AnswerBytes), expected, out int length, out ulong checksum) is not null) return null;
        ReadOnlySpan<byte> rest = input[(2 + n + TcpFrames.AnswerBytes)..];
        if (length == 0) return new Taken(answer, null, 0);
        if (rest.Length < length) return null; // the stream ends early: the transfer breaks
        ChunkBuffer chunk = ChunkBuffer.Rent(expected);
        try
        {
            rest[..length].CopyTo(chunk.WritableMemory.Span);
            ReceivedChunk.Verify("fuzz", chunk, length, expected, checksum);
            return new Taken(answer, chunk.Span.ToArray(), checksum);
        }
        catch (PeerTransferException)
        {
            return null;
        }
        finally
        {
            chunk.Release();
        }
    }

    public override void Check(byte[] input, object? result)
    {
        if (result is not Taken { Bytes: { } bytes } taken) return;
        if (taken.Properties is not { Kind: PeerMetadataKind.Found, Info: { } info } || bytes.Length != info.Length || bytes.Length > ChunkSize)
            throw Violated($"took {bytes.Length} bytes with properties that do not make a one-chunk blob of that length");
        if (ChecksumOf(bytes) != taken.Checksum) throw Violated("took bytes that fail the checksum that came with them");
    }

    public override IReadOnlyList<byte[]> Dictionary => [[0], [1], [6], [0, 0, 0x10, 0], [0xFF, 0xFF, 0xFF, 0x7F], [0xFF, 0xFF]];

    // The properties' strings and one chunk of at most the input's size.
    public override long AllocationBound(int inputBytes) => 64 * 1024 + 16L * inputBytes + ChunkSize;

    public override int MaxInputBytes => PeerMetadata.MaxEncodedBytes + TcpFrames.AnswerBytes + 2 * ChunkSize;
}
