using BlobCache.Mesh.Reading;
using BlobCache.Node.Origin;
using BlobCache.Node.Reading;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;

namespace BlobCache.Node.Peers.Tcp;

/// <summary>A peer's answer about a blob, with the blob's bytes when they were asked for and came (checked; the caller releases them).</summary>
public readonly record struct PeerBlobAnswer(AgedAnswer<BlobLookup> Properties, ChunkBuffer? Content);

/// <summary>Asks a peer about Blob's resources: a blob's properties, or a passed-through read (a listing page).</summary>
public interface IMetadataPeerClient
{
    /// <summary>A blob's properties; with <paramref name="withContent"/> its bytes too when it is one chunk and the peer has or fills them.</summary>
    Task<PeerBlobAnswer> AskBlobAsync(MemberMeta peer, string container, string blob, bool direct, bool withContent, TimeSpan timeout, CancellationToken cancellationToken);

    Task<AgedAnswer<PassThroughResult>> AskPassThroughAsync(MemberMeta peer, PassThroughKey key, bool direct, TimeSpan timeout, CancellationToken cancellationToken);
}

/// <summary>
/// Metadata requests over the framed-TCP protocol on the peer port, which every node serves whatever its chunk
/// transport: answers are small, and one protocol for them keeps one codec and one set of bounds.
/// </summary>
public sealed class TcpMetadataClient(TcpChunkPeerClient client, string account) : IMetadataPeerClient
{
    public async Task<PeerBlobAnswer> AskBlobAsync(MemberMeta peer, string container, string blob, bool direct, bool withContent, TimeSpan timeout,
        CancellationToken cancellationToken)
    {
        PeerMetadata answer = default;
        // The bytes a content answer may carry: exactly the length of the blob these properties describe, if one chunk.
        int ContentLength(byte[] body)
        {
            if (PeerMetadata.TryDecode(body, out answer) is { } malformed) throw new PeerTransferException($"{peer.Id} sent blob properties with {malformed}");
            return answer is { Kind: PeerMetadataKind.Found, Info: { } info } && OneChunkBlob.Carried(info.Length, client.ChunkSize) ? (int)info.Length : 0;
        }
        (byte[] body, ChunkBuffer? content) = await client.AskMetadataAsync(peer, new ChunkId(account, container, blob, "", TcpFrames.MetadataOfBlob), direct, timeout,
            cancellationToken, withContent ? ContentLength : null).ConfigureAwait(false);
        if (!withContent) ContentLength(body);
        return new PeerBlobAnswer(new AgedAnswer<BlobLookup>(new BlobLookup(answer.Kind, answer.Info), answer.Age), content);
    }

    public async Task<AgedAnswer<PassThroughResult>> AskPassThroughAsync(MemberMeta peer, PassThroughKey key, bool direct, TimeSpan timeout, CancellationToken cancellationToken)
    {
        (byte[] body, _) = await client.AskMetadataAsync(peer, new ChunkId(account, "", "", key.Text, TcpFrames.MetadataPassThrough), direct, timeout, cancellationToken).ConfigureAwait(false);
        if (PeerPassThrough.TryDecode(body, out PassThroughResult? result, out TimeSpan age) is { } malformed) throw new PeerTransferException($"{peer.Id} sent a passed-through answer with {malformed}");
        return new AgedAnswer<PassThroughResult>(result!, age);
    }
}
