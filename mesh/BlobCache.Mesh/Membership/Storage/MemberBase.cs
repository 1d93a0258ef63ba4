namespace BlobCache.Mesh.Membership;

/// <summary>An immutable flat array of member entries, shared by the views that are based on it.</summary>
public sealed class MemberBase
{
    private readonly MemberEntry[] _entries;

    public MemberBase(MemberEntry[] entries) => _entries = entries;

    public static MemberBase Empty { get; } = new([]);

    public int Length => _entries.Length;

    public MemberEntry this[int index] => (uint)index < (uint)_entries.Length ? _entries[index] : default;

    public void CopyTo(Span<MemberEntry> destination) => _entries.CopyTo(destination);

    /// <summary>Indexes whose entries differ between two bases.</summary>
    public static List<int> Differences(MemberBase a, MemberBase b)
    {
        var changed = new List<int>();
        int n = Math.Max(a.Length, b.Length);
        for (int i = 0; i < n; i++)
            if (a[i] != b[i]) changed.Add(i);
        return changed;
    }
}
