namespace BlobCache.Sim.Scenarios;

/// <summary>
/// One node asking Blob for one blob's properties (a HEAD), single-flight: every read of that node that needs them
/// waits on this one request and its retries. Pooled and reused, like <see cref="ChunkFetch"/>.
/// </summary>
internal sealed class MetadataLookup
{
    public int Id, Node, File;
    /// <summary>Reads of the node waiting for the properties.</summary>
    public int Waiters;
    /// <summary>Times Blob refused the HEAD (503).</summary>
    public int Retries;

    public void Reset(int node, int file)
    {
        Node = node;
        File = file;
        Waiters = 0;
        Retries = 0;
    }
}
