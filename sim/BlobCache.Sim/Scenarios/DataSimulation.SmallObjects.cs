using BlobCache.Mesh;

namespace BlobCache.Sim.Scenarios;

/// <summary>
/// A knowledge-base workload (kind kb): every node reads small objects, one chunk each, at a steady rate whatever
/// its earlier reads are doing (requests come from users, not from a loop that waits), each drawn from the set
/// with Zipf popularity. A read needs the object's properties (through the mesh, or from Blob), then its one chunk.
/// </summary>
public sealed partial class DataSimulation
{
    /// <summary>P(rank ≤ i) of the Zipf popularity over the objects, built once; rank i is object i.</summary>
    private double[] _zipfCdf = [];

    private int KbReadsPerNode => (int)(_w.ReadsPerSecond * _w.ReadSeconds);

    private long KbIntervalMicros => (long)(Micros.PerSecond / _w.ReadsPerSecond);

    private void BuildZipf()
    {
        _zipfCdf = new double[_w.Chunks];
        double sum = 0;
        for (int i = 0; i < _zipfCdf.Length; i++) _zipfCdf[i] = sum += Math.Pow(i + 1, -_w.ZipfExponent);
        for (int i = 0; i < _zipfCdf.Length; i++) _zipfCdf[i] /= sum;
    }

    private int DrawObject()
    {
        double u = SimulatedOrigin.Jitter(_random);
        int i = Array.BinarySearch(_zipfCdf, u);
        return Math.Min(i >= 0 ? i : ~i, _zipfCdf.Length - 1);
    }

    /// <summary>Each node's first read, at a random offset within one interval so that the fleet's reads spread.</summary>
    private void StartSmallObjectReads(int node)
    {
        NodeData d = NodeOf(node);
        d.Position = 0;
        ReadsTotal += KbReadsPerNode;
        Enqueue(_cluster.Now + (long)(SimulatedOrigin.Jitter(_random) * KbIntervalMicros), new DataEvent(DataEventKind.SmallObjectRead, node));
    }

    /// <summary>The node's next request: the next one is due an interval later, whether or not this one is done.</summary>
    private void SmallObjectRead(int node)
    {
        NodeData d = _nodes[node];
        if (!_cluster.Nodes[node].IsRunning || d.Position >= KbReadsPerNode) return;
        d.Position++;
        if (d.Position < KbReadsPerNode) Enqueue(_cluster.Now + KbIntervalMicros, new DataEvent(DataEventKind.SmallObjectRead, node));
        ReadObject(node, DrawObject(), checkedFile: -1);
    }

    /// <summary>
    /// One object's read: its properties first (held, or just answered for <paramref name="checkedFile"/>, with its
    /// bytes when they came along: <paramref name="heldFrom"/>), then its chunk.
    /// </summary>
    private void ReadObject(int node, int obj, int checkedFile, Source heldFrom = Source.Local, long coldAsks = -1)
    {
        NodeData d = _nodes[node];
        if (!_cluster.Nodes[node].IsRunning) return;
        if (obj != checkedFile && !MetadataFresh(node, obj, forPeer: false, direct: false))
        {
            WaitForProperties(node, obj, obj);
            return;
        }
        NoteAgeOfMetadata(d, obj);
        d.Reading++;
        ReadChunk(node, obj, heldFrom, coldAsks);
    }

    /// <summary>An object's size: 4 KiB to 256 KiB, by powers of two, fixed by its key (the same on every node and run).</summary>
    private long ObjectBytes(int chunk) =>
        _w.ObjectKibMax == 0 ? _chunkBytes : (long)_w.ObjectKibMin << (10 + (int)(ChunkHash(chunk) % (ulong)(SizeSteps + 1)));

    private int SizeSteps => System.Numerics.BitOperations.Log2((uint)(_w.ObjectKibMax / _w.ObjectKibMin));
}
