using BlobCache.Mesh.Placement;
using BlobCache.Node.Origin;
using BlobCache.Node.Peers;
using BlobCache.Node.Peers.Tcp;
using BlobCache.Node.Telemetry;
using BlobCache.Protocol.Gossip;

namespace BlobCache.Node.Reading;

/// <summary>
/// Blob's answers to the read-only requests the node passes through (List Blobs and List Containers pages, a
/// container's properties and ACL, account information, blob tags), kept for the metadata TTL and learned from the
/// request's owner in the region before Blob (<see cref="LookupCache{TKey, TValue}"/>), so a job whose every rank
/// lists the same dataset lists it from Blob about once per TTL per region. "Not found" is kept like an answer; any
/// other refusal is passed on to the reader and not kept.
/// </summary>
public sealed class PassThroughCache
{
    private readonly LookupCache<PassThroughKey, PassThroughResult> _cache;

    public PassThroughCache(IOriginPassThrough origin, TimeSpan ttl, TimeProvider? time = null, MetadataRouter? router = null, IMetadataPeerClient? peers = null,
        MetadataMetrics? metrics = null) =>
        _cache = new(new Source(origin, peers), ttl, time, peers is null ? null : router, metrics, Weigh, MaxBytes);

    /// <summary>Bytes of answers kept at most: a listing page of 5,000 entries is a few MiB.</summary>
    public const long MaxBytes = 64L * 1024 * 1024;

    private static long Weigh(PassThroughResult r) =>
        256 + (r.Answer is { } a ? a.Body.Length + a.Headers.Sum(h => 2L * (h.Key.Length + h.Value.Length)) : 2L * r.Message.Length);

    /// <summary>Blob's answer; throws <see cref="OriginException"/> as Blob refused (its "not found" included).</summary>
    public async ValueTask<PassThroughAnswer> GetAsync(PassThroughRead read, CancellationToken cancellationToken)
    {
        PassThroughResult r = (await _cache.GetAsync(PassThroughKey.Of(read), MetadataAsker.Reader, cancellationToken).ConfigureAwait(false)).Value;
        return r.Answer ?? throw new OriginException(r.Status, r.Code, r.Message);
    }

    /// <summary>What this node answers a peer that asks for <paramref name="key"/>, with how long ago Blob said it.</summary>
    public ValueTask<AgedAnswer<PassThroughResult>> AnswerPeerAsync(PassThroughKey key, bool direct, CancellationToken cancellationToken) =>
        _cache.GetAsync(key, direct ? MetadataAsker.PeerDirect : MetadataAsker.Peer, cancellationToken);

    private sealed class Source(IOriginPassThrough origin, IMetadataPeerClient? peers) : ILookupSource<PassThroughKey, PassThroughResult>
    {
        public async Task<PassThroughResult> FromOriginAsync(PassThroughKey key)
        {
            PassThroughRead read = PassThroughKey.TryParse(key.Text, out string? error) ?? throw new OriginException(400, "InvalidQueryParameterValue", $"a passed-through read {error}");
            try
            {
                return new PassThroughResult(await origin.PassThroughAsync(read, CancellationToken.None).ConfigureAwait(false));
            }
            catch (OriginException e) when (e.Status == 404)
            {
                return PassThroughResult.NotFound(e);
            }
        }

        public ulong RouteKey(PassThroughKey key) => StableHash.Of(key.Text);

        public Task<AgedAnswer<PassThroughResult>> FromPeerAsync(MemberMeta peer, PassThroughKey key, bool direct, bool withContent, TimeSpan timeout,
            CancellationToken cancellationToken) =>
            peers!.AskPassThroughAsync(peer, key, direct, timeout, cancellationToken);
    }
}
