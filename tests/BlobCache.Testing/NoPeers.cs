using BlobCache.Node.Peers;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;

namespace BlobCache.Testing;

/// <summary>The peer client of a reader run in process on its own (see <see cref="NoMesh"/>): asking a peer throws.</summary>
public sealed class NoPeers : IChunkPeerClient
{
    public Task<PeerReply> AskAsync(MemberMeta peer, ChunkId id, long blobLength, bool fill, TimeSpan answerTimeout, CancellationToken cancellationToken) =>
        throw new InvalidOperationException("this reader has no peers to ask");

    public Task<string> WarmAsync(MemberMeta peer, ChunkId id, long blobLength, TimeSpan answerTimeout, CancellationToken cancellationToken) =>
        throw new InvalidOperationException("this reader has no peers to ask");

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
