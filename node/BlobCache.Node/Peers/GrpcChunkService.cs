using BlobCache.Node.Origin;
using BlobCache.Node.Peers.Grpc;
using BlobCache.Node.Reading;
using BlobCache.Node.Telemetry;
using BlobCache.Store;
using Google.Protobuf;
using global::Grpc.Core;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Peers;

/// <summary>The owner's side of a gRPC chunk transfer: the chunk as a stream of pieces straight from its pooled buffer.</summary>
public sealed class GrpcChunkService(ChunkReader reader, BlobMetadataCache metadata, IBlobOrigin origin, NodeMetrics metrics, PeerAdmission admission, PeerSends? sends,
    ILogger<GrpcChunkService> logger) : ChunkPeer.ChunkPeerBase
{
    /// <summary>
    /// The trailer of a busy answer (status <see cref="StatusCode.Aborted"/>): the holders to ask instead, encoded as
    /// <see cref="PeerHolders"/> (binary metadata, so the same bounded decoder reads it as on the other transports).
    /// </summary>
    public const string HoldersTrailer = "bc-holders-bin";

    /// <summary>Piece size: larger pieces are no faster (docs/benchmarks.md), and smaller ones interleave streams more finely.</summary>
    public const int PieceBytes = 64 * 1024;

    private readonly PeerChunkHandler _handler = new(reader, metadata, origin.AccountName, metrics, admission, sends, logger);

    public override async Task Fetch(FetchRequest request, IServerStreamWriter<ChunkPiece> responseStream, ServerCallContext context)
    {
        // Decoding: ChunkId refuses a negative index by throwing, so the request is checked before the id is built.
        if (PeerRequest.Validate(origin.AccountName, request, reader.ChunkSize, out ChunkId id) is { } invalid)
            throw new RpcException(new Status(StatusCode.InvalidArgument, invalid));
        var chunkRequest = new PeerChunkRequest(id, request.BlobLength, request.Fill, request.WarmOnly, request.From);
        PeerServeOutcome s = await _handler.ServeAsync(chunkRequest, context.GetHttpContext().Connection.RemoteIpAddress, static c => new ValueTask(c.WriteResponseHeadersAsync([])), context, context.CancellationToken).ConfigureAwait(false);
        bool delivered = false;
        try
        {
            if (s.Status == PeerServeStatus.Busy) throw new RpcException(new Status(StatusCode.Aborted, s.Message), HoldersMetadata(s.Holders));
            if (s.Chunk is not { } chunk) throw new RpcException(new Status(StatusOf(s.Status), s.Message));
            await SendAsync(chunk, s.Source, request.WarmOnly, responseStream, context.CancellationToken).ConfigureAwait(false);
            delivered = !request.WarmOnly;
        }
        finally
        {
            _handler.Finish(chunkRequest, s, delivered);
        }
    }

    private static Metadata HoldersMetadata(in PeerHolders holders)
    {
        byte[] encoded = new byte[holders.EncodedBytes];
        holders.Encode(encoded);
        return new Metadata { { HoldersTrailer, encoded } };
    }

    private static StatusCode StatusOf(PeerServeStatus status) => status switch
    {
        PeerServeStatus.Invalid => StatusCode.InvalidArgument,
        PeerServeStatus.Refused => StatusCode.ResourceExhausted,
        PeerServeStatus.BlobChanged => StatusCode.FailedPrecondition,
        PeerServeStatus.OriginFailed => StatusCode.Unavailable,
        _ => StatusCode.NotFound,
    };

    private static async Task SendAsync(ChunkBuffer chunk, ReadSource from, bool warmOnly, IServerStreamWriter<ChunkPiece> responseStream, CancellationToken cancellationToken)
    {
        string source = from switch { ReadSource.Memory => "memory", ReadSource.Disk => "disk", _ => "blob" };
        if (warmOnly)
        {
            await responseStream.WriteAsync(new ChunkPiece { Length = chunk.Length, Checksum = chunk.Checksum, Source = source }, cancellationToken).ConfigureAwait(false);
            return;
        }
        int offset = 0;
        do
        {
            int n = Math.Min(PieceBytes, chunk.Length - offset);
            var piece = new ChunkPiece { Data = UnsafeByteOperations.UnsafeWrap(chunk.Memory.Slice(offset, n)) };
            if (offset == 0)
            {
                piece.Length = chunk.Length;
                piece.Checksum = chunk.Checksum;
                piece.Source = source;
            }
            // The piece is serialised before WriteAsync completes, so the wrapped buffer is not used afterwards.
            await responseStream.WriteAsync(piece, cancellationToken).ConfigureAwait(false);
            offset += n;
        }
        while (offset < chunk.Length);
    }
}
