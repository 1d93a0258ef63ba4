using BlobCache.Mesh.Reading;

namespace BlobCache.Sim.Scenarios;

/// <summary>
/// One node learning one metadata key (a blob's properties, a listing page), single-flight: the node's own reads that need it and the peers that
/// asked this node for them wait on the one <see cref="MetadataRoute"/> that decides whom to ask next (a deputy, the
/// key's owners, Blob). Pooled and reused, like <see cref="ChunkFetch"/>.
/// </summary>
internal sealed class MetadataLookup
{
    /// <summary>The metadata key: a file's properties, or a listing page (see DataSimulation.IsListingPage).</summary>
    public int Id, Node, Key;
    public MetadataRoute Route;
    /// <summary>The ask (peer request, HEAD or LIST) in flight; answers, deadlines and refusals of older asks are ignored.</summary>
    public long Ask;
    /// <summary>Whether the ask's deadline is queued already (asks answered at a known time need none).</summary>
    public bool DeadlineQueued;
    /// <summary>When Blob gave the properties a peer's answer to the current ask carries: the asker keeps them until this plus the TTL.</summary>
    public long AnswerFetchedAt;
    /// <summary>Reads of the node waiting for the properties.</summary>
    public int Waiters;
    /// <summary>Times Blob refused the HEAD or LIST (503).</summary>
    public int Retries;
    /// <summary>Peers' lookups that asked this node, each with the ask that is waiting.</summary>
    public readonly List<(int Lookup, long Ask)> Requesters = [];
    /// <summary>Whether its asks want a one-chunk file's bytes with the properties (as the node's read does), and whether they came.</summary>
    public bool WantsContent, ContentCame;
    /// <summary>Requests this lookup sent to peers, and the waiting reads that held neither the properties nor the bytes.</summary>
    public int PeerAsks, ColdWaiters;

    public void Reset(int node, int key)
    {
        Node = node;
        Key = key;
        Ask = 0;
        DeadlineQueued = false;
        AnswerFetchedAt = 0;
        Waiters = 0;
        Retries = 0;
        Requesters.Clear();
        WantsContent = ContentCame = false;
        PeerAsks = ColdWaiters = 0;
    }
}
