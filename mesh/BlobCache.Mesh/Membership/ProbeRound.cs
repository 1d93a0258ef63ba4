namespace BlobCache.Mesh.Membership;

/// <summary>
/// SWIM's randomised round-robin probe order, without a shuffled list per node: each round walks a power-of-two
/// range over the member indexes from a random offset by a random odd stride, which visits every index once.
/// A mutable struct: keep it in a field and call it through the field.
/// </summary>
internal struct ProbeRound
{
    private int _pos, _capacity;
    private ulong _offset, _stride;

    /// <summary>The next live member to probe other than <paramref name="self"/>, or -1 when two rounds found none.</summary>
    public int Next(DeterministicRandom random, MemberTable view, int memberCount, int self)
    {
        // Bounded: two full rounds at most, then give up until the next period.
        for (int steps = 0; steps < 2 * Math.Max(_capacity, 1) + memberCount + 2; steps++)
        {
            // A new round when this one is done, or when members joined beyond its range (they must not wait a
            // whole round, N protocol periods, before anyone probes them: a joiner that crashes would go unnoticed).
            if (_pos >= _capacity || memberCount > _capacity)
            {
                _capacity = (int)Math.Max(1, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)memberCount));
                _offset = random.NextUInt64();
                _stride = random.NextUInt64() | 1;
                _pos = 0;
            }
            int candidate = (int)((_offset + (ulong)_pos * _stride) & (ulong)(_capacity - 1));
            _pos++;
            // Bounded by the directory as it is now, so members that joined during the round are probed in it.
            if (candidate >= memberCount || candidate == self) continue;
            if (view[candidate].IsLive) return candidate;
        }
        return -1;
    }
}
