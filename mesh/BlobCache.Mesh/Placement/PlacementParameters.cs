namespace BlobCache.Mesh.Placement;

/// <summary>
/// Tuning of <see cref="RegionPlacement"/>. Every node must use the same values (they decide ownership), so
/// production code uses <see cref="Default"/>; other values exist for measurement and tests.
/// </summary>
/// <param name="Probes">Probe positions per key. More probes → shares closer to the weights, slower lookups.</param>
/// <param name="PointsPerStandardWeight">Ring points of a weight-100 member; points scale with weight.</param>
public readonly record struct PlacementParameters(int Probes, int PointsPerStandardWeight)
{
    /// <summary>The weight that gets exactly <see cref="PointsPerStandardWeight"/> points.</summary>
    public const int StandardWeight = 100;

    // Share noise per member ≈ 1/√(2·Probes·points) (measured 1.55% at 64×32, 2.2% at 32×32, 100k members);
    // lookup cost ≈ one memory read per probe; memory ≈ 16 bytes per point (table at load ≤ 0.5). 64×32 keeps the
    // table at 64 MB for 100k members; more points would cut the noise further but cost memory and build time.
    public static PlacementParameters Default { get; } = new(Probes: 64, PointsPerStandardWeight: 32);

    /// <summary>Points of a member: proportional to weight, at least one when weight &gt; 0, none at weight 0.</summary>
    public int PointsFor(ushort weight) =>
        weight == 0 ? 0 : Math.Max(1, (int)(((long)weight * PointsPerStandardWeight + StandardWeight / 2) / StandardWeight));

    internal void Validate()
    {
        if (Probes is < 1 or > 256) throw new ArgumentOutOfRangeException(nameof(Probes), Probes, "1..256");
        if (PointsPerStandardWeight is < 1 or > 4096)
            throw new ArgumentOutOfRangeException(nameof(PointsPerStandardWeight), PointsPerStandardWeight, "1..4096");
    }
}
