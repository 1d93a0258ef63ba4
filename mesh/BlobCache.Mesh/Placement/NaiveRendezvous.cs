namespace BlobCache.Mesh.Placement;

/// <summary>
/// Textbook weighted rendezvous (highest random weight): score = weight / −ln(u), u = Mix(key, idHash) in (0,1).
/// Exact shares and minimal movement but O(N) per lookup: the benchmark baseline, not for production paths.
/// </summary>
public static class NaiveRendezvous
{
    public static int Owner(ReadOnlySpan<PlacementMember> members, ulong keyHash)
    {
        int best = -1;
        double bestScore = double.NegativeInfinity;
        ulong bestId = 0;
        foreach (PlacementMember m in members)
        {
            if (m.Weight == 0) continue;
            // Top 53 bits + half a step: u is never 0 or 1, so −ln(u) is finite and positive.
            double u = ((StableHash.Mix(keyHash, m.IdHash) >> 11) + 0.5) * (1.0 / (1UL << 53));
            double score = m.Weight / -Math.Log(u);
            if (score > bestScore || (score == bestScore && m.IdHash < bestId))
            {
                best = m.Member;
                bestScore = score;
                bestId = m.IdHash;
            }
        }
        return best;
    }
}
