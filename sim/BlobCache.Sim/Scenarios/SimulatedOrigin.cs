using BlobCache.Mesh;
using BlobCache.Mesh.Origin;

namespace BlobCache.Sim.Scenarios;

/// <summary>
/// The storage account the simulated nodes read from. Every origin request of the data plane comes here: it is
/// counted by kind and by object and region, and admitted or refused (503 ServerBusy) by the same
/// <see cref="OriginThrottle"/> that throttles real processes in the tests, on the virtual clock. The answer comes
/// back after the origin's latency (plus the transfer time of a served read); what a refused request costs the node
/// after that is <see cref="OriginBackoff"/>'s delay, decided by the caller.
/// </summary>
public sealed class SimulatedOrigin
{
    private const int Kinds = 4;

    private readonly OriginThrottle _throttle;
    private readonly long[] _received = new long[Kinds];
    private readonly long[] _refused = new long[Kinds];
    // Requests per (object, region), one table per kind: what "once per object per region" is measured against.
    private readonly Dictionary<(ulong Object, int Region), int>[] _perObject = [[], [], [], []];
    private readonly int[] _perObjectMax = new int[Kinds];

    public SimulatedOrigin(OriginLimits limits) => _throttle = new OriginThrottle(limits);

    public OriginLimits Limits => _throttle.Limits;

    /// <summary>
    /// A request of <paramref name="kind"/> from a node of <paramref name="region"/> at <paramref name="now"/>:
    /// <paramref name="blob"/> is the blob it names (its per-blob budget), <paramref name="obj"/> what it asks for
    /// (a chunk for a range read, the blob for its properties), <paramref name="bytes"/> what a served one sends back.
    /// </summary>
    public OriginVerdict Request(long now, OriginRequestKind kind, ulong blob, ulong obj, int region, long bytes)
    {
        int k = (int)kind;
        _received[k]++;
        Dictionary<(ulong, int), int> table = _perObject[k];
        ref int count = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(table, (obj, region), out _);
        count++;
        if (count > _perObjectMax[k]) _perObjectMax[k] = count;
        OriginVerdict verdict = _throttle.Admit(now, kind, blob, bytes);
        if (verdict != OriginVerdict.Served) _refused[k]++;
        return verdict;
    }

    /// <summary>Requests of one kind the origin refused (503), whatever limit refused them.</summary>
    public long RefusedOf(OriginRequestKind kind) => _refused[(int)kind];

    /// <summary>Requests the origin received of one kind, served or refused.</summary>
    public long Received(OriginRequestKind kind) => _received[(int)kind];

    public long Served(OriginRequestKind kind) => _throttle.Served(kind);

    public long Refused(OriginVerdict reason) => _throttle.Refused(reason);

    public long RefusedTotal => _throttle.RefusedTotal;

    public long PeakRequestsPerSecond => _throttle.PeakRequestsPerSecond;

    /// <summary>Most requests of one kind for one object from one region.</summary>
    public int PerObjectPerRegionMax(OriginRequestKind kind) => _perObjectMax[(int)kind];

    /// <summary>Requests of one kind per object per region, over the (object, region) pairs asked for at all.</summary>
    public double PerObjectPerRegionMean(OriginRequestKind kind)
    {
        int pairs = _perObject[(int)kind].Count;
        return pairs == 0 ? 0 : _received[(int)kind] / (double)pairs;
    }

    public OriginReport Report() => new()
    {
        Limits = Limits,
        RequestsByKind = Enum.GetValues<OriginRequestKind>().ToDictionary(k => k, Received),
        ServedByKind = Enum.GetValues<OriginRequestKind>().ToDictionary(k => k, Served),
        Throttled = Enum.GetValues<OriginVerdict>().Where(v => v != OriginVerdict.Served).ToDictionary(v => v, Refused),
        ThrottledByKind = Enum.GetValues<OriginRequestKind>().ToDictionary(k => k, RefusedOf),
        PerObjectPerRegionMax = Enum.GetValues<OriginRequestKind>().ToDictionary(k => k, PerObjectPerRegionMax),
        PerObjectPerRegionMean = Enum.GetValues<OriginRequestKind>().ToDictionary(k => k, PerObjectPerRegionMean),
        PeakRequestsPerSecond = PeakRequestsPerSecond,
    };

    /// <summary>A uniform draw in [0, 1) for <see cref="OriginBackoff.DelayMicros"/>'s jitter.</summary>
    public static double Jitter(DeterministicRandom random) => (random.NextUInt64() >> 11) * (1.0 / (1UL << 53));
}
