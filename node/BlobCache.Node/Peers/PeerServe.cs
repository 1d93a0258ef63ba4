using BlobCache.Node.Origin;
using BlobCache.Node.Reading;
using BlobCache.Node.Telemetry;
using BlobCache.Store;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Peers;

/// <summary>How a peer's chunk request ended on the owner, whatever the transport.</summary>
public enum PeerServeStatus : byte { Ok, BlobChanged, OriginFailed, NotFound }

/// <summary>
/// The chunk to send (<see cref="PeerServeStatus.Ok"/>: the caller sends it and then releases it) or why there is
/// none, in words for the requester.
/// </summary>
public readonly record struct PeerServeOutcome(PeerServeStatus Status, string Message, ChunkBuffer? Chunk, ReadSource Source)
{
    /// <summary>The source as the framed transports send it: 0 memory, 1 disk, 2 Blob.</summary>
    public byte SourceCode => Source switch { ReadSource.Memory => 0, ReadSource.Disk => 1, _ => 2 };
}

/// <summary>
/// The owner's side of a peer request between checking it and encoding the answer, shared by the gRPC, framed-TCP
/// and UDP transports: read or fill the chunk, turn the read path's failures into answers, count misses. Each
/// transport keeps its admission, its check of the request (<see cref="PeerRequest.Validate(string, ChunkId, long, int)"/>,
/// done where its protocol needs it: before the id exists, or before admission), its encoding and its own errors.
/// </summary>
public sealed class PeerServe(ChunkReader reader, NodeMetrics metrics, ILogger logger)
{
    /// <summary>Serves a request the transport has already checked.</summary>
    public async ValueTask<PeerServeOutcome> ReadAsync(ChunkId id, long blobLength, bool fill, string from, CancellationToken cancellationToken)
    {
        (ChunkBuffer Chunk, ReadSource Source)? served;
        try
        {
            served = await reader.ServePeerAsync(id, blobLength, fill, cancellationToken).ConfigureAwait(false);
        }
        catch (BlobChangedException e)
        {
            return new(PeerServeStatus.BlobChanged, e.Message, null, default);
        }
        catch (OriginException e)
        {
            logger.LogWarning("origin failed filling {Chunk} for {Peer}: {Message}", id, from, e.Message);
            return new(PeerServeStatus.OriginFailed, e.Message, null, default);
        }
        if (served is not { } s)
        {
            metrics.PeerServeMiss();
            return new(PeerServeStatus.NotFound, "not cached here", null, default);
        }
        return new(PeerServeStatus.Ok, "", s.Chunk, s.Source);
    }
}
