using BlobCache.Protocol.Gossip;
using BlobCache.Store;

namespace BlobCache.Node.Peers;

/// <summary>Bounds every peer transport's requester holds an owner's answer to.</summary>
public static class PeerLimits
{
    /// <summary>
    /// Largest chunk a frame may announce (a decoder's bound). A requester takes only the length it expects
    /// (<see cref="ReceivedChunk"/>), which a chunk size keeps far below this.
    /// </summary>
    public const int MaxChunkBytes = 256 * 1024 * 1024;
}

/// <summary>A peer refused or broke a transfer (bad checksum, short stream, error status).</summary>
public sealed class PeerTransferException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A metadata owner's Blob is throttling it: ask it again later rather than Blob (<see cref="Mesh.Reading.MetadataRoute.OnThrottled"/>).</summary>
public sealed class PeerThrottledException(string message) : Exception(message);

/// <summary>Fetches one chunk from a peer over one of the peer transports.</summary>
public interface IChunkPeerClient : IAsyncDisposable
{
    /// <summary>
    /// Asks <paramref name="peer"/> for a chunk and returns what it answered (<see cref="PeerReply"/>): the chunk with
    /// one reference for the caller, verified against the checksum the peer sent; "not here" (not held and
    /// <paramref name="fill"/> false); "busy" with the holders it names; or "blob changed". Throws
    /// <see cref="PeerTransferException"/> when the transfer broke or the peer did not answer in time, and
    /// <see cref="OperationCanceledException"/> on the caller's token (its deadline for the whole transfer).
    /// </summary>
    /// <paramref name="answerTimeout"/> bounds the wait for the peer's first answer (a dead peer);
    /// <paramref name="cancellationToken"/> bounds the whole transfer (a peer filling from a slow Blob).
    Task<PeerReply> AskAsync(MemberMeta peer, ChunkId id, long blobLength, bool fill, TimeSpan answerTimeout, CancellationToken cancellationToken);

    /// <summary>
    /// Asks <paramref name="peer"/> to load the chunk into its cache (from Blob if it lacks it) without sending the
    /// bytes back: warm-up. Returns where the peer found it ("memory", "disk" or "blob"); throws like <see cref="AskAsync"/>.
    /// </summary>
    Task<string> WarmAsync(MemberMeta peer, ChunkId id, long blobLength, TimeSpan answerTimeout, CancellationToken cancellationToken);
}
