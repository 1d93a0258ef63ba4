namespace BlobCache.Mesh.Membership;

/// <summary>Bytes of one node's per-member arrays (see <see cref="SwimNode.StateBytes"/>).</summary>
public readonly record struct StateBytes(long Queue, long Suspicions, long Confirmers, long SuspicionMap, long SuspicionHeap, long ViewDifferences)
{
    public long Total => Queue + Suspicions + Confirmers + SuspicionMap + SuspicionHeap + ViewDifferences;

    public static StateBytes operator +(StateBytes a, StateBytes b) => new(a.Queue + b.Queue, a.Suspicions + b.Suspicions,
        a.Confirmers + b.Confirmers, a.SuspicionMap + b.SuspicionMap, a.SuspicionHeap + b.SuspicionHeap, a.ViewDifferences + b.ViewDifferences);
}
