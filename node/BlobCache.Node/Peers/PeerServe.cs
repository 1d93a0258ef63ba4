using BlobCache.Node.Origin;
using BlobCache.Node.Reading;
using BlobCache.Node.Telemetry;
using BlobCache.Store;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Peers;

/// <summary>How a peer's chunk request ended on the owner, whatever the transport.</summary>
public enum PeerServeStatus : byte { Ok, BlobChanged, OriginFailed, NotFound, Invalid, Refused, Busy }

/// <summary>
/// The chunk to send (<see cref="PeerServeStatus.Ok"/>: the caller sends it and then releases it) or why there is
/// none, in words for the requester; <see cref="PeerServeStatus.Busy"/> names the <see cref="Holders"/> to ask instead.
/// </summary>
public readonly record struct PeerServeOutcome(PeerServeStatus Status, string Message, ChunkBuffer? Chunk, ReadSource Source, PeerHolders Holders = default)
{
    /// <summary>The source as the framed transports send it: 0 memory, 1 disk, 2 Blob.</summary>
    public byte SourceCode => CodeOf(Source);

    /// <summary>A source as the framed transports send it.</summary>
    public static byte CodeOf(ReadSource source) => source switch { ReadSource.Memory => 0, ReadSource.Disk => 1, _ => 2 };
}

/// <summary>
/// The read step of the owner's pipeline (<see cref="PeerChunkHandler"/>), after the request is checked and admitted:
/// learn the blob's properties, read or fill the chunk, turn the read path's failures into answers, count misses.
/// </summary>
/// <remarks>
/// Nothing the requester says about the blob decides what is stored or served: the ETag and length come from this
/// node's own metadata (<paramref name="metadata"/>, the cache the endpoint reads too). A request for any other
/// version, or with any other length, is answered "blob changed" and nothing is read for it; otherwise a peer could
/// make the owner fill and keep a chunk of the length it chose, which every node would then serve.
/// </remarks>
public sealed class PeerServe(ChunkReader reader, BlobMetadataCache metadata, NodeMetrics metrics, ILogger logger)
{
    /// <summary>Serves a request the transport has already checked; <paramref name="blobLength"/> is what the requester believes.</summary>
    public async ValueTask<PeerServeOutcome> ReadAsync(ChunkId id, long blobLength, bool fill, string from, CancellationToken cancellationToken)
    {
        (ChunkBuffer Chunk, ReadSource Source)? served;
        try
        {
            BlobInfo? info = await metadata.GetAsync(id.Container, id.Blob, cancellationToken).ConfigureAwait(false);
            if (info is null) return new(PeerServeStatus.BlobChanged, $"{id.Container}/{id.Blob} does not exist", null, default);
            if (!string.Equals(info.ETag, id.ETag, StringComparison.Ordinal))
                return new(PeerServeStatus.BlobChanged, $"{id.Container}/{id.Blob} is at ETag {info.ETag}, not {id.ETag}", null, default);
            if (info.Length != blobLength)
                return new(PeerServeStatus.BlobChanged, $"{id.Container}/{id.Blob} at {info.ETag} is {info.Length} bytes, not {blobLength}", null, default);
            served = await reader.ServePeerAsync(id, info.Length, fill, cancellationToken).ConfigureAwait(false);
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
