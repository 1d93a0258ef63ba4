using BlobCache.Mesh.Reading;
using BlobCache.Node.Peers;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;

namespace BlobCache.Testing;

/// <summary>A peer client as tests that want the chunk or nothing use it.</summary>
public static class PeerClientExtensions
{
    /// <summary>
    /// The chunk (one reference for the caller), or null when the peer does not hold it; any other answer (busy,
    /// blob changed) throws <see cref="PeerTransferException"/> with what the peer said.
    /// </summary>
    public static async Task<ChunkBuffer?> FetchAsync(this IChunkPeerClient client, MemberMeta peer, ChunkId id, long blobLength, bool fill, TimeSpan answerTimeout,
        CancellationToken cancellationToken)
    {
        PeerReply reply = await client.AskAsync(peer, id, blobLength, fill, answerTimeout, cancellationToken).ConfigureAwait(false);
        return reply.Answer switch
        {
            PeerAnswer.Chunk => reply.Chunk,
            PeerAnswer.NotHere => null,
            _ => throw new PeerTransferException($"{reply.Answer}: {reply.Message}"),
        };
    }
}
