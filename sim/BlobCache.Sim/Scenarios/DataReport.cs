namespace BlobCache.Sim.Scenarios;

/// <summary>What the data plane did.</summary>
public sealed record DataReport
{
    public required string Kind { get; init; }
    public long BlobGets { get; init; }
    public long UniqueChunks { get; init; }
    public double BlobReadsPerChunkPerRegion { get; init; }
    public long BytesLocal { get; init; }
    public long BytesPeer { get; init; }
    public long BytesPeerRemoteRegion { get; init; }
    public long BytesBlob { get; init; }
    public int MaxOwnerConcurrency { get; init; }
    public int OwnerConcurrencyLimit { get; init; }
    /// <summary>Peers that answered "busy" (every transfer slot taken).</summary>
    public long BusyAnswers { get; init; }
    /// <summary>Busy answers that named holders for the reader to ask instead.</summary>
    public long Handoffs { get; init; }
    /// <summary>Chunks sent by a holder a busy peer had named.</summary>
    public long ServedByHolders { get; init; }
    /// <summary>Asks that got no answer by their deadline (a crashed peer the view still lists, or an overloaded one).</summary>
    public long OwnerTimeouts { get; init; }
    /// <summary>Asks of a region's next owner after the first timed out or stayed busy.</summary>
    public long OwnerRetries { get; init; }
    public long Evictions { get; init; }
    /// <summary>Per-node cache capacity in chunks; 0 when unbounded.</summary>
    public int CacheChunks { get; init; }
    public long ReadsDone { get; init; }
    public long ReadsTotal { get; init; }
    /// <summary>Reads that failed because Blob refused their properties or their chunk more often than the node retries.</summary>
    public long ReadsFailed { get; init; }
    /// <summary>Listing pages (job-start) Blob refused more often than the node retries; their nodes count as failed.</summary>
    public long ListPagesFailed { get; init; }
    /// <summary>Per reading node: seconds from the start of reading until it had all its bytes (nodes with a failed read left out).</summary>
    public Percentiles TimeToAllBytes { get; init; }
    public double CompletionSeconds { get; init; }
    /// <summary>Whether blob properties went through the mesh (<c>metadata_via_mesh</c> with a TTL above 0) or every node asked Blob.</summary>
    public bool MetadataViaMesh { get; init; }
    /// <summary>Peers' requests for blob properties that nodes received.</summary>
    public long MetadataPeerRequests { get; init; }
    /// <summary>Metadata asks that got no answer by their deadline (a dead deputy or owner, or one waiting on a throttled Blob).</summary>
    public long MetadataTimeouts { get; init; }
    /// <summary>Most peers' metadata requests one node received in one 1-s window.</summary>
    public int MetadataMaxRequestsPerSecondAtOneNode { get; init; }
    /// <summary>The oldest properties a read went on with, seconds since Blob gave them: at most the TTL (plus a peer's latency).</summary>
    public double MetadataMaxAgeSeconds { get; init; }
    /// <summary>Reads that held neither their file's properties nor its bytes.</summary>
    public long ColdReads { get; init; }
    /// <summary>
    /// Requests the reading node sent to peers per cold read that asked any (properties and bytes together; a node's
    /// deputy asking the owner in turn is not the reader's), and the most one cold read sent.
    /// </summary>
    public double PeerRequestsPerColdRead { get; init; }
    public long MaxPeerRequestsPerColdRead { get; init; }
    public double IdealSeconds { get; init; }
    /// <summary>On a shared host (<see cref="DataWorkload.Host"/>): CPU placed on its cores over the run's length, in cores; else NaN.</summary>
    public double HostCoresBusy { get; init; } = double.NaN;
}
