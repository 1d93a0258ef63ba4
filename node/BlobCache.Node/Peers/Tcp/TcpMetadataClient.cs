using BlobCache.Node.Origin;
using BlobCache.Node.Reading;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;

namespace BlobCache.Node.Peers.Tcp;

/// <summary>Asks a peer about Blob's resources: a blob's properties, or a passed-through read (a listing page).</summary>
public interface IMetadataPeerClient
{
    Task<AgedAnswer<BlobLookup>> AskBlobAsync(MemberMeta peer, string container, string blob, bool direct, TimeSpan timeout, CancellationToken cancellationToken);

    Task<AgedAnswer<PassThroughResult>> AskPassThroughAsync(MemberMeta peer, PassThroughKey key, bool direct, TimeSpan timeout, CancellationToken cancellationToken);
}

/// <summary>
/// Metadata requests over the framed-TCP protocol on the peer port, which every node serves whatever its chunk
/// transport: answers are small, and one protocol for them keeps one codec and one set of bounds.
/// </summary>
public sealed class TcpMetadataClient(TcpChunkPeerClient client, string account) : IMetadataPeerClient
{
    public async Task<AgedAnswer<BlobLookup>> AskBlobAsync(MemberMeta peer, string container, string blob, bool direct, TimeSpan timeout, CancellationToken cancellationToken)
    {
        byte[] body = await client.AskMetadataAsync(peer, new ChunkId(account, container, blob, "", TcpFrames.MetadataOfBlob), direct, timeout, cancellationToken).ConfigureAwait(false);
        if (PeerMetadata.TryDecode(body, out PeerMetadata answer) is { } malformed) throw new PeerTransferException($"{peer.Id} sent blob properties with {malformed}");
        return new AgedAnswer<BlobLookup>(new BlobLookup(answer.Kind, answer.Info), answer.Age);
    }

    public async Task<AgedAnswer<PassThroughResult>> AskPassThroughAsync(MemberMeta peer, PassThroughKey key, bool direct, TimeSpan timeout, CancellationToken cancellationToken)
    {
        byte[] body = await client.AskMetadataAsync(peer, new ChunkId(account, "", "", key.Text, TcpFrames.MetadataPassThrough), direct, timeout, cancellationToken).ConfigureAwait(false);
        if (PeerPassThrough.TryDecode(body, out PassThroughResult? result, out TimeSpan age) is { } malformed) throw new PeerTransferException($"{peer.Id} sent a passed-through answer with {malformed}");
        return new AgedAnswer<PassThroughResult>(result!, age);
    }
}
