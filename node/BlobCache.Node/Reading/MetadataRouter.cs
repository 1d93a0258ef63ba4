using BlobCache.Mesh;
using BlobCache.Mesh.Placement;
using BlobCache.Mesh.Reading;
using BlobCache.Node.Gossip;
using BlobCache.Node.Peers;
using BlobCache.Node.Telemetry;
using BlobCache.Protocol.Gossip;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Reading;

/// <summary>
/// Carries out a <see cref="MetadataRoute"/> for a <see cref="LookupCache{TKey, TValue}"/>: plans it over the current
/// membership view and asks each peer it names through the lookup's own source (a blob's properties, a listing page).
/// A peer that fails, refuses, or passes its deadline costs that deadline, then the next place; an answer older than
/// this node's TTL counts as none, so an answer passed on through owners never outlives the staleness bound.
/// </summary>
public sealed class MetadataRouter(IMeshView mesh, string selfId, MetadataRouting routing, MetadataMetrics metrics, ILogger logger)
{
    private readonly ulong _selfIdHash = StableHash.Of(selfId);

    public MetadataRoute Plan(ulong routeKey, MetadataAsker asker)
    {
        MeshSnapshot view = mesh.Current;
        return MetadataRoute.Plan(routing, routeKey, view.Self, _selfIdHash, view.Placement.ForRegion(view.Region),
            forPeer: asker != MetadataAsker.Reader, direct: asker == MetadataAsker.PeerDirect);
    }

    /// <summary>
    /// The first answer a peer of <paramref name="route"/> gives that is younger than <paramref name="ttl"/>; null when
    /// none did (ask Blob). Throws <see cref="PeerThrottledException"/> when the route serves a peer and its owner says
    /// Blob is throttling it (<see cref="MetadataStep.AnswerBusy"/>).
    /// </summary>
    public async Task<AgedAnswer<TValue>?> AskAsync<TKey, TValue>(ILookupSource<TKey, TValue> source, TKey key, MetadataRoute route, TimeSpan ttl, bool withContent = false)
    {
        MeshSnapshot view = mesh.Current;
        for (MetadataDecision d = route.Start(RouteClock.Now); d.Step == MetadataStep.AskPeer;)
        {
            if (view.MetaOf(d.Member) is not MemberMeta peer)
            {
                d = route.OnAnswer(RouteClock.Now, answered: false);
                continue;
            }
            long wait = d.NotBefore - RouteClock.Now; // an owner Blob throttles is asked again later
            if (wait > 0) await Task.Delay(Micros.ToTimeSpan(wait)).ConfigureAwait(false);
            TimeSpan deadline = Micros.ToTimeSpan(Math.Max(0, d.Deadline - RouteClock.Now));
            using var timeout = new CancellationTokenSource(deadline);
            try
            {
                AgedAnswer<TValue> answer = await source.FromPeerAsync(peer, key, d.Direct, withContent, deadline, timeout.Token).ConfigureAwait(false);
                if (answer.Age < ttl)
                {
                    metrics.AnsweredByPeer();
                    return answer;
                }
                logger.LogDebug("{Peer} answered about {Key} with an answer {Age} old, past this node's TTL", peer.Id, key, answer.Age);
            }
            catch (PeerThrottledException e)
            {
                logger.LogDebug("asking {Peer} about {Key}: {Error}", peer.Id, key, e.Message);
                d = route.OnThrottled(RouteClock.Now);
                if (d.Step == MetadataStep.AnswerBusy) throw; // the peer this node serves backs off, not this node
                continue;
            }
            catch (Exception e) when (e is PeerTransferException or OperationCanceledException)
            {
                logger.LogDebug("asking {Peer} about {Key}: {Error}", peer.Id, key, e.Message);
            }
            metrics.PeerFailed();
            d = route.OnAnswer(RouteClock.Now, answered: false);
        }
        return null;
    }

}
