namespace BlobCache.Mesh.Membership;

/// <summary>
/// Lifeguard's suspicion timeout: it starts at <c>max</c> and shrinks towards <c>min</c> as independent members
/// confirm the suspicion, on a log scale that reaches <c>min</c> after <c>k</c> confirmations.
/// </summary>
internal static class SuspicionTimeout
{
    /// <summary>The timeout after <paramref name="confirmations"/> independent confirmations out of <paramref name="k"/> wanted.</summary>
    public static long After(int confirmations, int k, long min, long max)
    {
        if (k < 1 || max <= min) return min;
        return Math.Max(max - Shortening(confirmations, k, max - min), min);
    }

    /// <summary>How much <paramref name="confirmations"/> take off the maximum: ⌊log(c+1)/log(k+1) · span⌋.</summary>
    public static long Shortening(int confirmations, int k, long span)
    {
        if (k < 1 || span <= 0) return 0;
        double fraction = Math.Log(Math.Min(confirmations, k) + 1.0) / Math.Log(k + 1.0);
        return (long)(fraction * span);
    }
}
