using BlobCache.Mesh.Placement;

namespace BlobCache.Mesh.Tests.Placement;

/// <summary>
/// Brute-force statement of the placement score, written from the spec and not from the implementation: a
/// member's score is the smallest clockwise distance (on the 2^44 ring of top bits) from any of the key's probes
/// to any of its points; rank by (score, idHash, Member).
/// </summary>
internal static class ReferenceScorer
{
    private const int RingBits = 44;
    private const ulong RingMask = (1UL << RingBits) - 1;

    public static int[] Ranking(ReadOnlySpan<PlacementMember> members, ulong keyHash, PlacementParameters parameters)
    {
        var probes = new ulong[parameters.Probes];
        for (int p = 0; p < probes.Length; p++) probes[p] = StableHash.Mix(keyHash, (ulong)p) >> (64 - RingBits);
        var scored = new List<(ulong Score, ulong IdHash, int Member)>();
        foreach (PlacementMember m in members)
        {
            int points = parameters.PointsFor(m.Weight);
            if (points == 0) continue;
            ulong best = ulong.MaxValue;
            for (int j = 0; j < points; j++)
            {
                ulong point = StableHash.Mix(m.IdHash, (ulong)j) >> (64 - RingBits);
                foreach (ulong probe in probes) best = Math.Min(best, (point - probe) & RingMask);
            }
            scored.Add((best, m.IdHash, m.Member));
        }
        scored.Sort();
        return [.. scored.Select(s => s.Member)];
    }
}
