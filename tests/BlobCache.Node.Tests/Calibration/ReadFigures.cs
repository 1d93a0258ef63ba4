using System.Globalization;
using BlobCache.Node.Hosting;
using BlobCache.Sim.Scenarios;

namespace BlobCache.Node.Tests.Calibration;

/// <summary>
/// What a read workload did, in the terms both a real mesh and the simulator report: Blob GETs, bytes a reader found
/// in its own cache, bytes that came from elsewhere (a peer or Blob), and how long it took.
/// </summary>
/// <remarks>
/// "Elsewhere" is not split into peer and Blob because the two count an owner's fill differently: the simulator
/// counts a chunk an owner read from Blob for a waiting reader as Blob bytes of that reader, the node counts it as
/// peer bytes (it came over a peer transport). The Blob GETs say how much came from Blob on both sides.
/// </remarks>
public readonly record struct ReadFigures(long BlobGets, long BytesLocal, long BytesElsewhere, double Seconds)
{
    public long BytesTotal => BytesLocal + BytesElsewhere;

    public double LocalShare => BytesTotal == 0 ? 0 : BytesLocal / (double)BytesTotal;

    /// <summary>A real mesh's figures, summed over its nodes' status.</summary>
    public static ReadFigures Of(IEnumerable<StatusReport> nodes, double seconds)
    {
        long gets = 0, local = 0, elsewhere = 0;
        foreach (StatusReport s in nodes)
        {
            gets += s.BlobGets;
            local += s.BytesBySource["memory"] + s.BytesBySource["disk"];
            elsewhere += s.BytesBySource["peer"] + s.BytesBySource["peer_remote_region"] + s.BytesBySource["blob"];
        }
        return new ReadFigures(gets, local, elsewhere, seconds);
    }

    /// <summary>What a mesh did between two readings of its counters, over <paramref name="seconds"/>.</summary>
    public ReadFigures Since(ReadFigures before, double seconds) =>
        new(BlobGets - before.BlobGets, BytesLocal - before.BytesLocal, BytesElsewhere - before.BytesElsewhere, seconds);

    /// <summary>A simulated run's figures.</summary>
    public static ReadFigures Of(DataReport d) =>
        new(d.BlobGets, d.BytesLocal, d.BytesPeer + d.BytesPeerRemoteRegion + d.BytesBlob, d.CompletionSeconds);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"Blob GETs {BlobGets}, local {BytesLocal / 1048576.0:F1} MiB ({LocalShare:P1}), elsewhere {BytesElsewhere / 1048576.0:F1} MiB, done in {Seconds:F2} s");
}
