namespace BlobCache.Mesh;

/// <summary>
/// xoshiro256** seeded through SplitMix64: small, fast, and the same sequence on every platform and runtime,
/// unlike <see cref="System.Random"/> whose algorithm is not a contract. One per node, never shared.
/// </summary>
public sealed class DeterministicRandom
{
    private ulong _s0, _s1, _s2, _s3;

    public DeterministicRandom(ulong seed)
    {
        _s0 = SplitMix(ref seed);
        _s1 = SplitMix(ref seed);
        _s2 = SplitMix(ref seed);
        _s3 = SplitMix(ref seed);
    }

    /// <summary>Derives an independent seed for a child (a node of a simulation) from a parent seed.</summary>
    public static ulong Derive(ulong seed, ulong child)
    {
        ulong x = seed ^ (child * 0x9E3779B97F4A7C15UL);
        return SplitMix(ref x);
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, maxExclusive) without modulo bias (Lemire's method).</summary>
    public int Next(int maxExclusive)
    {
        if (maxExclusive <= 0) throw new ArgumentOutOfRangeException(nameof(maxExclusive));
        ulong range = (ulong)maxExclusive;
        while (true)
        {
            ulong x = NextUInt64() >> 32;
            ulong m = x * range;
            if ((uint)m >= range || (uint)m >= (uint)((0x1_0000_0000UL - range) % range))
                return (int)(m >> 32);
        }
    }

    /// <summary>Uniform in [0, maxExclusive).</summary>
    public long NextInt64(long maxExclusive)
    {
        if (maxExclusive <= 0) throw new ArgumentOutOfRangeException(nameof(maxExclusive));
        return (long)(NextUInt64() % (ulong)maxExclusive);
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));
}
