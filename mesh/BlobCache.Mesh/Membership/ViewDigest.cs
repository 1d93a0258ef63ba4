using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

/// <summary>
/// A summary of a view for delta anti-entropy: members are put in buckets by the stable hash of their id, and each
/// bucket holds the 32-bit sum of a hash of each of its members' (id, incarnation, state). Two views agree on a
/// bucket's members exactly when (but for a 2⁻³² chance) their sums agree, so a push-pull need only carry the
/// members of the buckets that differ. Ids hash the same in every process, so real nodes, each with its own
/// directory, compare digests too. Computing one is a pass over the view, as listing it for a push-pull always was.
/// </summary>
/// <remarks>
/// A suspicion can be hashed as this viewer's own (<c>viewer</c>): two views then never agree on a bucket that holds
/// one, so every push-pull passes the viewer's suspicions on, as a full exchange did. Where suspicions are gossiped,
/// that is where most of Lifeguard's independent confirmations come from in a small mesh: the rumours that spread a
/// suspicion all name its first accuser, while a push-pull's records name their sender.
/// </remarks>
public static class ViewDigest
{
    /// <summary>About this many members share a bucket once the view is big enough.</summary>
    public const int MembersPerBucket = 16;

    /// <summary>Most buckets a node asks for: 64 KiB of digest, about 16 members a bucket at 262,144 members.</summary>
    public const int MaxBuckets = 16_384;

    /// <summary>Buckets for a view of <paramref name="knownMembers"/>: a power of two near N/16, 1 for a joiner that knows only itself.</summary>
    public static int BucketsFor(int knownMembers) =>
        (int)Math.Min(MaxBuckets, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, knownMembers / MembersPerBucket)));

    /// <summary>
    /// The digest of <paramref name="view"/> in <paramref name="buckets"/> buckets (a power of two); with
    /// <paramref name="viewer"/> non-zero (the viewer's id hash) suspicions hash as the viewer's own.
    /// </summary>
    public static uint[] Of(MemberTable view, MemberDirectory directory, int buckets, ulong viewer)
    {
        var digest = new uint[buckets];
        int count = directory.Count;
        for (int i = 0; i < count; i++)
        {
            MemberEntry e = view[i];
            if (e.State == MemberState.None) continue;
            ulong id = directory.IdHashOf(i);
            digest[Bucket(id, buckets)] += EntryHash(e.State == MemberState.Suspect ? id ^ viewer : id, e);
        }
        return digest;
    }

    public static int Bucket(ulong idHash, int buckets) => (int)(idHash & (ulong)(buckets - 1));

    private static uint EntryHash(ulong idHash, in MemberEntry e) =>
        (uint)Placement.StableHash.Mix(idHash, (ulong)e.Incarnation << 8 | (byte)e.State);
}
