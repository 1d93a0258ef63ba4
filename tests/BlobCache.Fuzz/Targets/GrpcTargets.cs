using System.Buffers;
using BlobCache.Fuzz.Engine;
using BlobCache.Node.Peers;
using BlobCache.Node.Peers.Grpc;
using BlobCache.Store;
using Google.Protobuf;

namespace BlobCache.Fuzz.Targets;

/// <summary>
/// A peer's gRPC request as the owner sees it: protobuf <see cref="FetchRequest"/> parsing, then
/// <see cref="PeerRequest.Validate(string, FetchRequest, int, out ChunkId)"/> (what GrpcChunkService does first), then
/// a real owner's side (<see cref="PeerOwner"/>), which may send or keep only the origin's bytes of the chunk asked
/// for, whatever length or ETag the request claims. The only exception allowed is protobuf's documented
/// <see cref="InvalidProtocolBufferException"/>. Under TLS the owner reads the same messages.
/// </summary>
public sealed class GrpcFetchTarget : FuzzTarget
{
    private PeerOwner? _owner;

    private PeerOwner Owner => _owner ??= new PeerOwner();

    public override string Name => "grpc-fetch";

    public override byte[] Generate(Random random) => random.Next(3) == 0 ? Forged(random) : new FetchRequest
    {
        Account = random.Next(3) == 0 ? UdpFramesTarget.Text(random, 64) : "devstoreaccount1",
        Container = random.Next(3) == 0 ? UdpFramesTarget.Text(random, 80) : "dataset",
        Blob = UdpFramesTarget.Text(random, random.Next(8) == 0 ? 5000 : 1100),
        Etag = random.Next(4) == 0 ? UdpFramesTarget.Text(random, 300) : "\"0x8DC1234\"",
        Index = random.Next(4) switch { 0 => -1, 1 => long.MinValue, 2 => long.MaxValue, _ => random.Next(100) },
        BlobLength = random.Next(4) switch { 0 => 0, 1 => -5, 2 => long.MaxValue, _ => random.NextInt64(1L << 40) },
        Fill = random.Next(2) == 0,
        WarmOnly = random.Next(4) == 0,
        From = UdpFramesTarget.Text(random, 40),
    }.ToByteArray();

    // A request for a blob the owner has, often claiming a length it does not have.
    private static byte[] Forged(Random random)
    {
        (ChunkId id, long length) = PeerOwner.Request(random);
        return new FetchRequest
        {
            Account = id.Account, Container = id.Container, Blob = id.Blob, Etag = id.ETag, Index = id.Index, BlobLength = length,
            Fill = random.Next(4) != 0, WarmOnly = random.Next(4) == 0, From = "forger",
        }.ToByteArray();
    }

    public override object? Run(object prepared)
    {
        byte[] input = (byte[])prepared;
        FetchRequest request;
        try
        {
            request = FetchRequest.Parser.ParseFrom(input);
        }
        catch (InvalidProtocolBufferException)
        {
            return null;
        }
        string? invalid = PeerRequest.Validate(PeerOwner.Account, request, PeerOwner.ChunkSize, out ChunkId id);
        if (invalid is not null) return invalid;
        _ = id.Hash; // the owner names the chunk's file with it
        return Owner.Serve(id, request.BlobLength, request.Fill);
    }

    public override void Check(byte[] input, object? result)
    {
        if (result is not PeerAnswer answer) return;
        ChunkId id = answer.Id;
        if (id.Index < 0 || id.Container.Length is < 3 or > 63 || id.Blob.Length is 0 or > 1024)
            throw Violated($"an invalid request passed validation: {id}");
        if (Owner.Check(answer) is { } wrong) throw Violated($"a request for {id} claiming {FetchRequest.Parser.ParseFrom(input).BlobLength} bytes: the owner {wrong}");
    }

    public override IReadOnlyList<byte[]> Dictionary => ProtobufTokens;

    // A refused message costs an InvalidProtocolBufferException, whose stack trace grows with the nesting protobuf
    // follows before it gives up (groups, at most 100 deep): up to ~70 KB whatever the input's length.
    public override long AllocationBound(int inputBytes) => 4L * inputBytes + 128 * 1024;

    /// <summary>Field tags of both messages, varint extremes, huge lengths, group openers (protobuf's nesting).</summary>
    public static readonly IReadOnlyList<byte[]> ProtobufTokens =
    [
        [0x0A], [0x12], [0x1A], [0x22], [0x28], [0x30], [0x38], [0x42], [0x48], [0x08], [0x11],
        [0xFF, 0xFF, 0xFF, 0xFF, 0x0F], [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
        [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x07], [0x22, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F], [0x0B], [0x0C], [0x53], [0x54], [0x00], [0x07],
    ];
}

/// <summary>
/// The requester's side: a <see cref="ChunkPiece"/> from an owner as the requester reads it now, with
/// <see cref="ChunkPieceWire"/> (PieceSink's checks of the announced length and the data are unit tested). Checked against the generated protobuf parser: whatever the reader accepts,
/// protobuf parses to the same length, checksum, source and data; whatever protobuf refuses, the reader refuses.
/// </summary>
public sealed class GrpcPieceTarget : FuzzTarget
{
    public override string Name => "grpc-piece";

    public override byte[] Generate(Random random)
    {
        var piece = new ChunkPiece();
        if (random.Next(2) == 0)
        {
            piece.Length = random.Next(4) switch { 0 => 0, 1 => -1, 2 => PeerLimits.MaxChunkBytes + 1L, _ => 1 + random.Next(1 << 20) };
            piece.Checksum = (ulong)random.NextInt64();
            piece.Source = random.Next(4) switch { 0 => "memory", 1 => "disk", 2 => "blob", _ => UdpFramesTarget.Text(random, 32) };
        }
        byte[] data = new byte[random.Next(8) == 0 ? 64 * 1024 : random.Next(200)];
        random.NextBytes(data);
        piece.Data = ByteString.CopyFrom(data);
        return piece.ToByteArray();
    }

    public override object? Run(object prepared)
    {
        byte[] input = (byte[])prepared;
        string? error = ChunkPieceWire.TryRead(new ReadOnlySequence<byte>(input), out ChunkPieceView piece);
        return error is null ? piece : null;
    }

    public override void Check(byte[] input, object? result)
    {
        ChunkPiece expected;
        try
        {
            expected = ChunkPiece.Parser.ParseFrom(input);
        }
        catch (InvalidProtocolBufferException e)
        {
            if (result is not null) throw Violated($"the reader accepted a piece protobuf refuses ({e.Message})");
            return;
        }
        if (result is not ChunkPieceView piece) return; // stricter than protobuf: groups, a source over 1 KiB, a 64-bit tag
        if (piece.Length != expected.Length || piece.Checksum != expected.Checksum || piece.Source != expected.Source
            || !piece.Data.ToArray().AsSpan().SequenceEqual(expected.Data.Span))
            throw Violated($"the reader read ({piece.Length}, {piece.Checksum}, '{piece.Source}', {piece.Data.Length} bytes) where protobuf read ({expected.Length}, {expected.Checksum}, '{expected.Source}', {expected.Data.Length} bytes)");
    }

    public override IReadOnlyList<byte[]> Dictionary => GrpcFetchTarget.ProtobufTokens;

    // The reader allocates only a source string (at most 1 KiB of UTF-8) and its boxed answer.
    public override long AllocationBound(int inputBytes) => 4 * 1024;
}
