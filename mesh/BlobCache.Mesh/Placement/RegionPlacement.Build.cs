namespace BlobCache.Mesh.Placement;

public sealed partial class RegionPlacement
{
    // Largest region: ordinals must fit below OrdinalMask (which would collide with EndOfTable).
    public const int MaxMembers = (int)OrdinalMask - 1;

    private RegionPlacement(
        PlacementParameters parameters, ulong[] table, int homeShift, int pointCount, int[] members)
    {
        Parameters = parameters;
        _table = table;
        _homeShift = homeShift;
        _pointCount = pointCount;
        _firstEntry = table[0];
        _members = members;
        _sortedMembers = (int[])members.Clone();
        Array.Sort(_sortedMembers);
        _premixedProbes = new ulong[parameters.Probes];
        for (int p = 0; p < _premixedProbes.Length; p++) _premixedProbes[p] = StableHash.Premix((ulong)p);
    }

    /// <summary>Builds with <see cref="PlacementParameters.Default"/>. Input order does not matter.</summary>
    /// <exception cref="ArgumentException">Two entries share a Member index.</exception>
    public static RegionPlacement Build(ReadOnlySpan<PlacementMember> members) =>
        Build(members, PlacementParameters.Default);

    /// <inheritdoc cref="Build(ReadOnlySpan{PlacementMember})"/>
    public static RegionPlacement Build(ReadOnlySpan<PlacementMember> members, PlacementParameters parameters)
    {
        parameters.Validate();
        PlacementMember[] active = SortedActive(members);

        if (active.Length > MaxMembers) throw new ArgumentException($"More than {MaxMembers} members.", nameof(members));
        long total = 0;
        foreach (PlacementMember m in active) total += parameters.PointsFor(m.Weight);
        if (total > Array.MaxLength / 2) throw new ArgumentException("Too many ring points.", nameof(members));

        var entries = new ulong[total];
        var memberIndexes = new int[active.Length];
        int next = 0;
        for (int ordinal = 0; ordinal < active.Length; ordinal++)
        {
            PlacementMember m = active[ordinal];
            memberIndexes[ordinal] = m.Member;
            int count = parameters.PointsFor(m.Weight);
            for (int j = 0; j < count; j++)
                entries[next++] = (StableHash.Mix(m.IdHash, (ulong)j) & ~OrdinalMask) | (uint)ordinal;
        }
        Array.Sort(entries);
        int distinct = Deduplicate(entries);
        int homeBits = HomeBits(distinct);
        return new RegionPlacement(
            parameters, Table(entries.AsSpan(0, distinct), homeBits), 64 - homeBits, distinct, memberIndexes);
    }

    // Two points of one member may share their top 44 bits; one entry is enough.
    private static int Deduplicate(ulong[] sorted)
    {
        if (sorted.Length == 0) return 0;
        int kept = 1;
        for (int i = 1; i < sorted.Length; i++)
        {
            if (sorted[i] != sorted[kept - 1]) sorted[kept++] = sorted[i];
        }
        return kept;
    }

    // Home slots: the power of two ≥ twice the entry count (load 0.25–0.5), at least 2 (64 − bits must be a real
    // shift). Measured: at load ~1 the successor is often past the first two slots and lookups get ~1.6× slower.
    private static int HomeBits(int entryCount)
    {
        int bits = 1;
        while (bits < 30 && (1L << bits) < 2L * entryCount) bits++;
        return bits;
    }

    // Lays sorted entries out at max(home, previous + 1), fills each gap with the entry after it, and ends with
    // EndOfTable. An empty ring is just the end marker.
    private static ulong[] Table(ReadOnlySpan<ulong> sorted, int homeBits)
    {
        int shift = 64 - homeBits;
        int homes = 1 << homeBits;
        // First pass only measures, so the table is allocated once at its final size (it may be huge-paged).
        int used = 0;
        foreach (ulong entry in sorted) used = Math.Max(used, (int)(entry >> shift)) + 1;
        ulong[] table = LargeTable.Allocate(Math.Max(used, homes) + 1);
        used = 0;
        foreach (ulong entry in sorted)
        {
            int slot = Math.Max(used, (int)(entry >> shift));
            table.AsSpan(used, slot - used + 1).Fill(entry);
            used = slot + 1;
        }
        // Probes homed past the last entry must see the end marker, wherever they start.
        table.AsSpan(used).Fill(EndOfTable);
        return table;
    }

    // Members with weight > 0 in (idHash, Member) order: the ordinal order, independent of input order.
    private static PlacementMember[] SortedActive(ReadOnlySpan<PlacementMember> members)
    {
        var seen = new HashSet<int>(members.Length);
        var active = new List<PlacementMember>(members.Length);
        foreach (PlacementMember m in members)
        {
            if (!seen.Add(m.Member)) throw new ArgumentException($"Member {m.Member} appears twice.", nameof(members));
            if (m.Weight > 0) active.Add(m);
        }
        PlacementMember[] sorted = [.. active];
        Array.Sort(sorted, static (a, b) => a.IdHash != b.IdHash ? a.IdHash.CompareTo(b.IdHash) : a.Member.CompareTo(b.Member));
        return sorted;
    }
}
