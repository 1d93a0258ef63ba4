using System.Diagnostics;
using BlobCache.Mesh;
using BlobCache.Mesh.Placement;
using BlobCache.Mesh.Reading;
using BlobCache.Node.Gossip;
using BlobCache.Node.Peers;
using BlobCache.Node.Peers.Tcp;
using BlobCache.Node.Telemetry;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Reading;

/// <summary>
/// The node's <see cref="IMetadataPeers"/>: routes a lookup by <see cref="MetadataRoute"/> over the current
/// membership view and asks each peer it names over the framed-TCP protocol on the peer port, which every node
/// serves whatever its chunk transport (metadata answers are small; one protocol for them keeps one codec and one
/// set of bounds). A peer that fails, refuses, or passes its deadline costs that deadline, then the next place.
/// </summary>
public sealed class MeshMetadataPeers(IMeshView mesh, TcpChunkPeerClient client, string account, string selfId, MetadataRouting routing, MetadataMetrics metrics,
    ILogger logger) : IMetadataPeers
{
    private readonly ulong _selfIdHash = StableHash.Of(selfId);

    public MetadataRoute Plan(string container, string blob, MetadataAsker asker)
    {
        MeshSnapshot view = mesh.Current;
        return MetadataRoute.Plan(routing, StableHash.BlobKey(container, blob), view.Self, _selfIdHash, view.Placement.ForRegion(view.Region),
            forPeer: asker != MetadataAsker.Reader, direct: asker == MetadataAsker.PeerDirect);
    }

    public async Task<PeerMetadata?> AskAsync(string container, string blob, MetadataRoute route, TimeSpan ttl)
    {
        MeshSnapshot view = mesh.Current;
        var id = new ChunkId(account, container, blob, "", 0);
        for (MetadataDecision d = route.Start(Now()); d.Step == MetadataStep.AskPeer; )
        {
            bool answered = false;
            PeerMetadata answer = default;
            if (view.MetaOf(d.Member) is MemberMeta peer)
            {
                var deadline = TimeSpan.FromTicks(Math.Max(0, d.Deadline - Now()) * TimeSpan.TicksPerMicrosecond);
                using var timeout = new CancellationTokenSource(deadline);
                try
                {
                    answer = await client.AskMetadataAsync(peer, id, d.Direct, deadline, timeout.Token).ConfigureAwait(false);
                    // An answer older than this node's TTL would outlive the staleness bound: asked elsewhere instead.
                    answered = answer.Age < ttl;
                }
                catch (Exception e) when (e is PeerTransferException or OperationCanceledException)
                {
                    logger.LogDebug("metadata of {Container}/{Blob} from {Peer}: {Error}", container, blob, peer.Id, e.Message);
                }
            }
            if (answered)
            {
                metrics.AnsweredByPeer();
                return answer;
            }
            metrics.PeerFailed();
            d = route.OnAnswer(Now(), answered: false);
        }
        return null;
    }

    private static long Now() => (long)(Stopwatch.GetTimestamp() * ((double)Micros.PerSecond / Stopwatch.Frequency));
}
