using BlobCache.Mesh.Placement;
using BlobCache.Node.Origin;
using BlobCache.Node.Peers;
using BlobCache.Node.Peers.Tcp;
using BlobCache.Node.Telemetry;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;

namespace BlobCache.Node.Reading;

/// <summary>What is known of a blob: its properties (<see cref="PeerMetadataKind.Found"/>), or that it or its container does not exist.</summary>
public readonly record struct BlobLookup(PeerMetadataKind Kind, BlobInfo? Info);

/// <summary>
/// A blob's properties for the endpoint and for every peer transport's owner side, trusted for a short TTL (0 = ask
/// Blob every time) and learned from the blob's owner in the region before Blob (<see cref="LookupCache{TKey, TValue}"/>
/// has the rules). An overwritten blob is seen at most one TTL late, and never mixed: chunk keys carry the ETag, and
/// origin reads are conditional on it. A reader's lookup for a read asks the owner for a one-chunk blob's bytes too
/// (<see cref="Mesh.Reading.OneChunkBlob"/>), and the bytes that come are kept by <paramref name="content"/>.
/// </summary>
public sealed class BlobMetadataCache(IBlobOrigin origin, TimeSpan ttl, TimeProvider? time = null, MetadataRouter? router = null, IMetadataPeerClient? peers = null,
    MetadataMetrics? metrics = null, ChunkReader? content = null)
{
    private readonly LookupCache<(string Container, string Blob), BlobLookup> _cache =
        new(new Source(origin, peers, content), ttl, time, peers is null ? null : router, metrics, static _ => 1, MaxEntries);

    /// <summary>Blobs whose properties are kept at most (a few hundred bytes each).</summary>
    public const int MaxEntries = 100_000;

    public TimeSpan Ttl => _cache.Ttl;

    /// <summary>
    /// The blob's properties, null when it does not exist; throws <see cref="OriginException"/> 404 ContainerNotFound
    /// when its container does not. <paramref name="forRead"/>: the caller reads the bytes next.
    /// </summary>
    public async ValueTask<BlobInfo?> GetAsync(string container, string blob, CancellationToken cancellationToken, bool forRead = false)
    {
        AgedAnswer<BlobLookup> a = await _cache.GetAsync((container, blob), MetadataAsker.Reader, cancellationToken, forRead).ConfigureAwait(false);
        return a.Value.Kind == PeerMetadataKind.NoContainer ? throw new OriginException(404, "ContainerNotFound", $"container '{container}' does not exist") : a.Value.Info;
    }

    /// <summary>What this node answers a peer that asks about a blob (and wants its bytes: <paramref name="withContent"/>), with how long ago Blob said it.</summary>
    public async ValueTask<PeerMetadata> AnswerPeerAsync(string container, string blob, bool direct, CancellationToken cancellationToken, bool withContent = false)
    {
        AgedAnswer<BlobLookup> a = await _cache.GetAsync((container, blob), direct ? MetadataAsker.PeerDirect : MetadataAsker.Peer, cancellationToken, withContent)
            .ConfigureAwait(false);
        return new PeerMetadata(a.Value.Kind, a.Value.Info, a.Age);
    }

    /// <summary>Forgets a blob (its ETag turned out stale), including an answer on its way; the next lookup asks Blob.</summary>
    public void Invalidate(string container, string blob) => _cache.Invalidate((container, blob));

    private sealed class Source(IBlobOrigin origin, IMetadataPeerClient? peers, ChunkReader? content) : ILookupSource<(string Container, string Blob), BlobLookup>
    {
        public async Task<BlobLookup> FromOriginAsync((string Container, string Blob) key)
        {
            try
            {
                BlobInfo? info = await origin.GetBlobAsync(key.Container, key.Blob, CancellationToken.None).ConfigureAwait(false);
                return new BlobLookup(info is null ? PeerMetadataKind.NoBlob : PeerMetadataKind.Found, info);
            }
            catch (OriginException e) when (e.Status == 404 && e.Code == "ContainerNotFound")
            {
                // Kept like any answer: a missing container asked about by every node is a request per node otherwise.
                return new BlobLookup(PeerMetadataKind.NoContainer, null);
            }
        }

        public ulong RouteKey((string Container, string Blob) key) => StableHash.BlobKey(key.Container, key.Blob);

        public async Task<AgedAnswer<BlobLookup>> FromPeerAsync(MemberMeta peer, (string Container, string Blob) key, bool direct, bool withContent, TimeSpan timeout,
            CancellationToken cancellationToken)
        {
            PeerBlobAnswer a = await peers!.AskBlobAsync(peer, key.Container, key.Blob, direct, withContent && content is not null, timeout, cancellationToken).ConfigureAwait(false);
            if (a.Content is { } chunk)
            {
                // Checked by the transport against the length these properties give and the checksum that came with it.
                try
                {
                    content!.KeepFromPeer(new ChunkId(origin.AccountName, key.Container, key.Blob, a.Properties.Value.Info!.ETag, 0), chunk);
                }
                finally
                {
                    chunk.Release();
                }
            }
            return a.Properties;
        }
    }
}
