using BlobCache.Mesh.Reading;

namespace BlobCache.Sim.Scenarios;

/// <summary>
/// One node getting one chunk it does not hold, single-flight: the node's own reads of it and the peers that asked
/// it to fill wait on the one <see cref="ChunkRoute"/> that decides where to ask next. Pooled and reused, so a
/// simulation of millions of reads allocates a fetch per chunk in flight, not per read.
/// </summary>
internal sealed class ChunkFetch
{
    public int Id, Node, Chunk;
    public ulong Key;
    public ChunkRoute Route;
    /// <summary>The ask (peer request or Blob GET) in flight; answers and deadlines of older asks are ignored.</summary>
    public long Ask;
    /// <summary>Whether the ask's deadline is queued already (asks answered at a known time need none).</summary>
    public bool DeadlineQueued;
    /// <summary>The first owner of the region the route asked: a later owner is a retry.</summary>
    public int FirstOwner;
    /// <summary>This node's own reads waiting for the chunk.</summary>
    public int LocalReaders;
    /// <summary>Peers' fetches that asked this node to fill, each with the ask that is waiting.</summary>
    public readonly List<(int Fetch, long Ask)> Requesters = [];
    /// <summary>The holders a busy peer named, carried from its decision to its answer's arrival.</summary>
    public readonly int[] Named = new int[ChunkRoute.MaxHolders];
    public int NamedCount;
    /// <summary>Times Blob refused this fetch's GET (503): the node's backoff retries it up to its limit.</summary>
    public int OriginRetries;
    /// <summary>Peers' metadata lookups this node answers with the chunk (a one-chunk file's bytes with its properties) once it has it.</summary>
    public readonly List<(int Lookup, long Ask)> MetadataRequesters = [];
    /// <summary>Requests this fetch sent to peers.</summary>
    public int PeerAsks;
    /// <summary>Of its local reads, the cold ones (neither properties nor bytes held), each with the peer requests its properties cost.</summary>
    public readonly List<long> ColdReaders = [];

    public void Reset(int node, int chunk, ulong key)
    {
        Node = node;
        Chunk = chunk;
        Key = key;
        Ask = 0;
        DeadlineQueued = false;
        FirstOwner = -1;
        LocalReaders = 0;
        NamedCount = 0;
        OriginRetries = 0;
        Requesters.Clear();
        MetadataRequesters.Clear();
        PeerAsks = 0;
        ColdReaders.Clear();
    }
}
