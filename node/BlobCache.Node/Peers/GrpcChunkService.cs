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
public sealed class GrpcChunkService(ChunkReader reader, BlobMetadataCache metadata, IBlobOrigin origin, NodeMetrics metrics, PeerAdmission admission, ILogger<GrpcChunkService> logger) : ChunkPeer.ChunkPeerBase
{
    /// <summary>Piece size: larger pieces are no faster (docs/benchmarks.md), and smaller ones interleave streams more finely.</summary>
    public const int PieceBytes = 64 * 1024;

    private readonly PeerServe _serve = new(reader, metadata, metrics, logger);

    public override async Task Fetch(FetchRequest request, IServerStreamWriter<ChunkPiece> responseStream, ServerCallContext context)
    {
        PeerRefusal refusal = admission.TryEnter(context.GetHttpContext().Connection.RemoteIpAddress);
        if (refusal != PeerRefusal.None) throw new RpcException(new Status(StatusCode.ResourceExhausted, admission.Describe(refusal)));
        metrics.PeerServeBegan();
        try
        {
            await ServeAsync(request, responseStream, context).ConfigureAwait(false);
        }
        finally
        {
            metrics.PeerServeEnded();
            admission.Exit();
        }
    }

    private async Task ServeAsync(FetchRequest request, IServerStreamWriter<ChunkPiece> responseStream, ServerCallContext context)
    {
        // Before the id is built: ChunkId refuses a negative index by throwing.
        string? invalid = PeerRequest.Validate(origin.AccountName, request, reader.ChunkSize, out ChunkId id);
        if (invalid is not null) throw new RpcException(new Status(StatusCode.InvalidArgument, invalid));
        await context.WriteResponseHeadersAsync([]).ConfigureAwait(false);
        PeerServeOutcome s = await _serve.ReadAsync(id, request.BlobLength, request.Fill, request.From, context.CancellationToken).ConfigureAwait(false);
        if (s.Chunk is null)
        {
            StatusCode code = s.Status switch
            {
                PeerServeStatus.BlobChanged => StatusCode.FailedPrecondition,
                PeerServeStatus.OriginFailed => StatusCode.Unavailable,
                _ => StatusCode.NotFound,
            };
            throw new RpcException(new Status(code, s.Message));
        }
        try
        {
            ChunkBuffer chunk = s.Chunk;
            string source = s.Source switch { ReadSource.Memory => "memory", ReadSource.Disk => "disk", _ => "blob" };
            if (request.WarmOnly)
            {
                await responseStream.WriteAsync(new ChunkPiece { Length = chunk.Length, Checksum = chunk.Checksum, Source = source }, context.CancellationToken).ConfigureAwait(false);
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
                await responseStream.WriteAsync(piece, context.CancellationToken).ConfigureAwait(false);
                offset += n;
            }
            while (offset < chunk.Length);
            metrics.PeerServed();
        }
        finally
        {
            s.Chunk.Release();
        }
    }
}
