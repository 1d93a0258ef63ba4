namespace BlobCache.Sim.Scenarios;

/// <summary>
/// A training job's start (kind job-start): every node lists the dataset page by page, page k+1 only once it has
/// page k (an SDK's pager follows the marker page k returned), and then reads its shard. A page is a metadata key
/// like a blob's properties: through the mesh its owner in the region lists it once per TTL for every asker.
/// </summary>
public sealed partial class DataSimulation
{
    /// <summary>Listing pages Blob refused more often than the node retries: the node goes on without them and counts as failed.</summary>
    public long ListPagesFailed { get; private set; }

    /// <summary>The node's next page, from its fresh entry or through a lookup; after the last page it starts reading its shard.</summary>
    private void ListNext(int node)
    {
        NodeData d = _nodes[node];
        if (!_cluster.Nodes[node].IsRunning) return;
        if (d.ListedPages == _w.ListPages)
        {
            for (int i = 0; i < _w.ReaderConcurrency; i++) Enqueue(_cluster.Now, new DataEvent(DataEventKind.NextRead, node));
            return;
        }
        int key = _fileKeys.Length + d.ListedPages;
        if (!MetadataFresh(node, key, forPeer: false, direct: false))
        {
            LookupOf(node, key, forPeer: false, direct: false).Waiters++;
            return;
        }
        NoteAgeOfMetadata(d, key);
        d.ListedPages++;
        Enqueue(_cluster.Now, new DataEvent(DataEventKind.ListNext, node));
    }

    /// <summary>
    /// The node's lookup of a page ended: it goes on to the next page (with a TTL of 0 the answer serves the listing
    /// that waited for it, and no more). A page that could not be had marks the node failed.
    /// </summary>
    private void PageLookedUp(int node, int key, bool served)
    {
        NodeData d = _nodes[node];
        if (key != _fileKeys.Length + d.ListedPages) return;
        if (!served)
        {
            ListPagesFailed++;
            d.Failed = true;
        }
        d.ListedPages++;
        Enqueue(_cluster.Now, new DataEvent(DataEventKind.ListNext, node));
    }
}
