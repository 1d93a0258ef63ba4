using BlobCache.Mesh;
using BlobCache.Mesh.Origin;
using BlobCache.Mesh.Reading;

namespace BlobCache.Sim.Scenarios;

/// <summary>
/// Metadata, as the node learns it: a key is a blob's properties (a HEAD) or one page of a listing (a LIST), both
/// routed alike. A node without a fresh entry runs the node's
/// <see cref="MetadataRoute"/> (its bucket's deputy, the key's owners, then Blob), single-flight per (node, key); a
/// peer asked answers from its fresh entry or from its own lookup of the key. An answer carries the time Blob gave
/// it, and the asker keeps it until that time plus the TTL. A lookup in the last fifth of the TTL is answered from
/// the entry and refreshes it in the background. With the routing off every node asks Blob itself.
/// </summary>
public sealed partial class DataSimulation
{
    /// <summary>A held entry is refreshed in the background once less than 1/this of the TTL is left, as the node does.</summary>
    private const int RefreshAheadShare = 5;

    public long MetadataPeerRequests { get; private set; }
    public long MetadataTimeouts { get; private set; }
    public int MetadataMaxRequestsPerSecondAtOneNode { get; private set; }
    /// <summary>The oldest properties a read went on with: how long before the read Blob gave them.</summary>
    public long MetadataMaxAgeMicros { get; private set; }
    /// <summary>Reads that held neither their file's properties nor its bytes, and of those the ones that asked a peer.</summary>
    public long ColdReads { get; private set; }
    public long ColdReadsViaPeers { get; private set; }
    /// <summary>Requests the reading nodes themselves sent to peers for their cold reads (properties and bytes), and the most for one.</summary>
    public long ColdReadPeerRequests { get; private set; }
    public long ColdReadMaxPeerRequests { get; private set; }

    private void CountColdRead(long peerRequests)
    {
        ColdReads++;
        if (peerRequests > 0) ColdReadsViaPeers++;
        ColdReadPeerRequests += peerRequests;
        ColdReadMaxPeerRequests = Math.Max(ColdReadMaxPeerRequests, peerRequests);
    }

    /// <summary>
    /// A read of <paramref name="chunk"/> waits for its file's properties. One that holds no bytes of a one-chunk file
    /// asks for them with the properties, as the node's read does (<see cref="OneChunkBlob"/>).
    /// </summary>
    private void WaitForProperties(int node, int file, int chunk)
    {
        bool cold = !NodeOf(node).Has(chunk);
        MetadataLookup l = LookupOf(node, file, forPeer: false, direct: false, wantsContent: cold);
        l.Waiters++;
        if (cold) l.ColdWaiters++;
    }

    /// <summary>A read goes on with the node's entry for <paramref name="key"/>: how stale it may be, the bound a reader can see.</summary>
    private void NoteAgeOfMetadata(NodeData d, int key)
    {
        MetadataMaxAgeMicros = Math.Max(MetadataMaxAgeMicros, _cluster.Now - d.MetadataFetchedAt(key));
    }

    /// <summary>Metadata keys are the files' properties first, then the listing's pages.</summary>
    private bool IsListingPage(int key) => key >= _fileKeys.Length;

    private ulong MetadataKeyOf(int key) => IsListingPage(key) ? _pageKeys[key - _fileKeys.Length] : _fileKeys[key];

    /// <summary>
    /// Whether <paramref name="node"/> holds a fresh entry for <paramref name="key"/>; in the last fifth of its
    /// TTL it also starts a background lookup, planned as the asker's would be.
    /// </summary>
    private bool MetadataFresh(int node, int key, bool forPeer, bool direct)
    {
        long left = NodeOf(node).MetadataUntil(key) - _cluster.Now;
        if (left <= 0) return false;
        if (left * RefreshAheadShare <= _metadataTtlMicros) LookupOf(node, key, forPeer, direct);
        return true;
    }

    /// <summary>
    /// The node's lookup of a metadata key, joined if one is in flight (single-flight per node), else started.
    /// A peer's request joins it unless the lookup is on a longer path than the request allows (see
    /// <see cref="AsksFartherThan"/>): then the lookup starts over on the request's path.
    /// </summary>
    private MetadataLookup LookupOf(int node, int key, bool forPeer, bool direct, bool wantsContent = false)
    {
        MetadataLookup l = _lookups.GetOrStart(node, key, out bool started);
        if (started) l.Reset(node, key);
        else if (!forPeer || !AsksFartherThan(l.Route.Current, direct)) return l;
        // Bytes come with properties only where chunks go through the mesh (a baseline reads every chunk from Blob).
        l.WantsContent |= wantsContent && _w.ChunksViaMesh && !IsListingPage(key) && OneChunkBlob.Carried(FileBytes(key), _chunkBytes);
        RefreshPlacement(force: false);
        int member = MemberOf(node);
        l.Route = MetadataRoute.Plan(_metadata, MetadataKeyOf(key), member, _cluster.Directory.IdHashOf(member), _regionPlacement[RegionOf(node)], forPeer, direct);
        Carry(l, l.Route.Start(_cluster.Now));
        return l;
    }

    /// <summary>
    /// A direct request is answered from the cache or Blob, and a deputy's from the owners, never from another
    /// deputy. A node's own lookup may be asking a peer when such a request comes (its own deputy, say, who may be
    /// waiting for this very node as its deputy): waiting on it would break the two-hop bound, and two deputies
    /// asking each other would both wait for their deadlines.
    /// </summary>
    private static bool AsksFartherThan(MetadataDecision current, bool direct) =>
        current.Step == MetadataStep.AskPeer && (direct || !current.Direct);

    /// <summary>Carries out a metadata route's decision: a request to a peer (with its deadline) or Blob (a HEAD or a LIST).</summary>
    private void Carry(MetadataLookup l, MetadataDecision decision)
    {
        l.Ask = ++_asks;
        l.DeadlineQueued = false;
        switch (decision.Step)
        {
            case MetadataStep.AskPeer:
                l.PeerAsks++;
                int peer = NodeOfMember(decision.Member);
                if (peer >= 0) Enqueue(Math.Max(_cluster.Now, decision.NotBefore) + Latency(l.Node, peer), new DataEvent(DataEventKind.MetadataRequest, l.Id, l.Ask));
                else AwaitDeadline(l);
                break;
            case MetadataStep.AskBlob:
                AskOrigin(l);
                break;
            default:
                throw new InvalidOperationException($"a metadata route decided {decision.Step} before any answer");
        }
    }

    /// <summary>The ask's deadline, queued only when its answer time is not known when it is served (a dead peer, a peer's own lookup).</summary>
    private void AwaitDeadline(MetadataLookup l)
    {
        if (l.DeadlineQueued) return;
        l.DeadlineQueued = true;
        Enqueue(l.Route.Current.Deadline, new DataEvent(DataEventKind.MetadataDeadline, l.Id, l.Ask));
    }

    /// <summary>A peer's request reached this node: answered from its fresh entry, or it waits on this node's own lookup.</summary>
    private void MetadataRequestArrived(MetadataLookup asker, long ask)
    {
        if (asker.Ask != ask) return;
        MetadataDecision asked = asker.Route.Current;
        int peer = NodeOfMember(asked.Member);
        if (!_cluster.Nodes[peer].IsRunning)
        {
            AwaitDeadline(asker);
            return;
        }
        CountServed(peer);
        if (MetadataFresh(peer, asker.Key, forPeer: true, asked.Direct))
        {
            AnswerOrSend(peer, asker, ask, _nodes[peer].MetadataFetchedAt(asker.Key));
            return;
        }
        LookupOf(peer, asker.Key, forPeer: true, asked.Direct, asker.WantsContent).Requesters.Add((asker.Id, ask));
        AwaitDeadline(asker);
    }

    /// <summary>Peers' requests a node received, per 1-s window: the hot-key load the deputies bound.</summary>
    private void CountServed(int node)
    {
        MetadataPeerRequests++;
        NodeData d = NodeOf(node);
        long second = _cluster.Now / Micros.PerSecond;
        if (d.MetadataWindow != second)
        {
            d.MetadataWindow = second;
            d.MetadataServedInWindow = 0;
        }
        MetadataMaxRequestsPerSecondAtOneNode = Math.Max(MetadataMaxRequestsPerSecondAtOneNode, ++d.MetadataServedInWindow);
    }

    private void Answer(int from, MetadataLookup asker, long ask, long fetchedAt)
    {
        asker.AnswerFetchedAt = fetchedAt;
        Enqueue(_cluster.Now + Latency(from, asker.Node), new DataEvent(DataEventKind.MetadataAnswered, asker.Id, ask));
    }

    /// <summary>
    /// Answers with the properties, and the file's bytes when the asker wants them and <see cref="OneChunkBlob.Content"/>
    /// says so: held, or (asked as the owner) filled first by the node's own fetch, which then sends them.
    /// </summary>
    private void AnswerOrSend(int from, MetadataLookup asker, long ask, long fetchedAt)
    {
        int chunk = IsListingPage(asker.Key) ? -1 : FirstChunkOf(asker.Key);
        OwnerAction action = chunk < 0 ? OwnerAction.NotHere
            : OneChunkBlob.Content(asker.WantsContent, FileBytes(asker.Key), _chunkBytes, NodeOf(from).Has(chunk), asker.Route.Current.Direct);
        asker.AnswerFetchedAt = fetchedAt;
        switch (action)
        {
            case OwnerAction.Send:
                SendWithProperties(from, asker, ask, chunk);
                break;
            case OwnerAction.Fill:
                AwaitDeadline(asker);
                FetchOf(from, chunk, forPeer: true).MetadataRequesters.Add((asker.Id, ask));
                break;
            default:
                Answer(from, asker, ask, fetchedAt);
                break;
        }
    }

    /// <summary>The properties and the chunk go out together; an answer that would come past the ask's deadline is given up on.</summary>
    private void SendWithProperties(int from, MetadataLookup asker, long ask, int chunk)
    {
        NodeOf(from).Touch(chunk);
        long arrival = Send(from, asker.Node, ObjectBytes(chunk));
        if (arrival <= asker.Route.Current.Deadline) Enqueue(arrival, new DataEvent(DataEventKind.MetadataAnsweredWithContent, asker.Id, ask));
        else AwaitDeadline(asker);
    }

    /// <summary>
    /// A peer's answer came with the file's bytes: the node keeps them, then goes on as with any answer. The sender does
    /// not name it as a holder, as a node's metadata answer does not.
    /// </summary>
    private void ContentArrived(MetadataLookup l, long ask)
    {
        if (l.Ask != ask) return;
        int chunk = FirstChunkOf(l.Key);
        Evictions += NodeOf(l.Node).Add(chunk);
        l.ContentCame = true;
        MetadataAnswerArrived(l, ask, answered: true);
    }

    /// <summary>
    /// A peer answered with properties (<paramref name="answered"/>) or said its own lookup failed, which in the
    /// simulator is always Blob refusing it (throttling): done, the same owner again after a backoff, or the next place.
    /// </summary>
    private void MetadataAnswerArrived(MetadataLookup l, long ask, bool answered)
    {
        if (l.Ask != ask) return;
        if (answered)
        {
            l.Route.OnAnswer(_cluster.Now, answered: true);
            FinishLookup(l, served: true, l.AnswerFetchedAt);
            return;
        }
        MetadataDecision next = l.Route.OnThrottled(_cluster.Now);
        // The peers waiting on this lookup hear "busy" at once and back off themselves, as a node answers a peer
        // (its lookup for a peer ends in AnswerBusy; the node's own reader's lookup is another flight there).
        RefuseRequesters(l);
        if (next.Step != MetadataStep.AnswerBusy) Carry(l, next);
        else if (l.Waiters > 0) ReplanForOwnReads(l);
        else
        {
            l.Ask = 0;
            _lookups.Release(l.Node, l.Key, l.Id);
        }
    }

    private void RefuseRequesters(MetadataLookup l)
    {
        foreach ((int requester, long ask) in l.Requesters)
        {
            if (_lookups[requester].Ask == ask) Enqueue(_cluster.Now + Latency(l.Node, _lookups[requester].Node), new DataEvent(DataEventKind.MetadataRefused, requester, ask));
        }
        l.Requesters.Clear();
    }

    /// <summary>A lookup planned for a peer that the node's own reads joined: they go on as the node's reader would, from its route's start.</summary>
    private void ReplanForOwnReads(MetadataLookup l)
    {
        int member = MemberOf(l.Node);
        l.Route = MetadataRoute.Plan(_metadata, MetadataKeyOf(l.Key), member, _cluster.Directory.IdHashOf(member), _regionPlacement[RegionOf(l.Node)]);
        Carry(l, l.Route.Start(_cluster.Now));
    }

    private void MetadataDeadlinePassed(MetadataLookup l, long ask)
    {
        if (l.Ask != ask) return;
        MetadataTimeouts++;
        Carry(l, l.Route.OnAnswer(_cluster.Now, answered: false));
    }

    /// <summary>
    /// A HEAD of the lookup's blob, or a LIST of its page (which names no blob, so only the account's budget applies);
    /// the answer or refusal comes back after the origin's latency (and, on a shared host, its CPU).
    /// </summary>
    private void AskOrigin(MetadataLookup l)
    {
        bool listing = IsListingPage(l.Key);
        ulong obj = MetadataKeyOf(l.Key);
        OriginVerdict verdict = listing
            ? _origin.Request(_cluster.Now, OriginRequestKind.List, blob: 0, obj, RegionOf(l.Node), bytes: 0)
            : _origin.Request(_cluster.Now, OriginRequestKind.Head, obj, obj, RegionOf(l.Node), bytes: 0);
        bool served = verdict == OriginVerdict.Served;
        Enqueue(OriginAnsweredAt(bytes: 0), new DataEvent(served ? DataEventKind.HeadServed : DataEventKind.HeadRefused, l.Id, l.Ask));
    }

    /// <summary>Blob answered the HEAD or LIST, or refused it: asked again after the node's backoff, or the lookup fails.</summary>
    private void HeadAnswered(MetadataLookup l, long ask, bool served)
    {
        if (l.Ask != ask) return;
        if (!served && BackOff(ref l.Retries) is long at)
        {
            Enqueue(at, new DataEvent(DataEventKind.HeadRetry, l.Id, l.Ask));
            return;
        }
        FinishLookup(l, served, fetchedAt: _cluster.Now);
    }

    /// <summary>
    /// The lookup ended: with an entry Blob gave at <paramref name="fetchedAt"/> (the node keeps it until then
    /// plus the TTL, its waiting reads or listing go on, the peers that asked are answered), or failed (the waiting
    /// reads fail, the peers hear so and go on).
    /// </summary>
    private void FinishLookup(MetadataLookup l, bool served, long fetchedAt)
    {
        l.Ask = 0;
        NodeData d = NodeOf(l.Node);
        if (served) d.KeepMetadata(l.Key, fetchedAt, fetchedAt + _metadataTtlMicros, _cluster.Now);
        for (int i = 0; i < l.Waiters; i++)
        {
            if (IsListingPage(l.Key)) PageLookedUp(l.Node, l.Key, served);
            else if (served)
                Enqueue(_cluster.Now, new DataEvent(DataEventKind.ReadAfterHead, l.Node, Ask: i < l.ColdWaiters ? 1 + l.PeerAsks : 0, Peer: l.Key,
                    Source: l.ContentCame ? Source.Peer : Source.Local));
            else FailNextRead(l.Node);
        }
        if (!_cluster.Nodes[l.Node].IsRunning) l.Requesters.Clear();
        else if (!served) RefuseRequesters(l);
        else
        {
            long answerFetchedAt = d.MetadataFetchedAt(l.Key);
            foreach ((int requester, long ask) in l.Requesters)
            {
                MetadataLookup r = _lookups[requester];
                if (r.Ask == ask) AnswerOrSend(l.Node, r, ask, answerFetchedAt);
            }
            l.Requesters.Clear();
        }
        _lookups.Release(l.Node, l.Key, l.Id);
    }

    /// <summary>A read whose blob's properties could not be had: it takes its chunk and fails with it.</summary>
    private void FailNextRead(int node)
    {
        NodeData d = _nodes[node];
        if (_w.Kind != "kb")
        {
            // A sharded reader's read is its next position; a kb read was counted when it was drawn.
            if (d.Position >= d.End) return;
            d.Position += d.Stride;
        }
        d.Reading++;
        Fail(node);
    }
}
