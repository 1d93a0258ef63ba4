using BlobCache.Mesh.Placement;

namespace BlobCache.Mesh.Tests.Placement;

/// <summary>Seeded member sets and keys shared by the placement tests.</summary>
internal static class PlacementTestData
{
    private static readonly ushort[] MixedWeights = [50, 100, 200, 400];

    public static PlacementMember[] Members(int count, int seed, bool mixedWeights = false, int firstIndex = 0)
    {
        var rng = new Random(seed);
        var members = new PlacementMember[count];
        for (int i = 0; i < count; i++)
        {
            ushort weight = mixedWeights ? MixedWeights[rng.Next(MixedWeights.Length)] : (ushort)100;
            int index = firstIndex + i;
            members[i] = new PlacementMember(index, StableHash.Of($"member-{seed}-{index}"), weight);
        }
        return members;
    }

    public static ulong Key(int seed, long i) => StableHash.Mix((ulong)seed * 0x9E3779B97F4A7C15UL, (ulong)i);

    public static T[] Shuffled<T>(T[] items, int seed)
    {
        T[] copy = (T[])items.Clone();
        new Random(seed).Shuffle(copy);
        return copy;
    }
}
