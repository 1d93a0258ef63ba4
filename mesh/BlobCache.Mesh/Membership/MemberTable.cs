using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

/// <summary>One member as one node sees it: 12 bytes, no references, so a page of them is one flat array.</summary>
public struct MemberEntry
{
    public uint Incarnation;
    /// <summary>Handle of the member's metadata in the <see cref="MemberDirectory"/>; 0 when unknown.</summary>
    public int Meta;
    public MemberState State;

    public readonly bool IsLive => State is MemberState.Alive or MemberState.Suspect;
}

/// <summary>
/// A node's view of the membership: entries indexed by directory index, stored in fixed-size pages that are
/// copy-on-write. <see cref="Fork"/> shares every page; the first write to a shared page copies it. The simulator
/// also swaps equal pages for one canonical copy (<see cref="SharePages"/>), so 100,000 nodes that agree on a
/// region of the membership hold it once. Holds only state that every node agrees on; timers live elsewhere.
/// </summary>
public sealed class MemberTable
{
    public const int PageShift = 8;
    public const int PageSize = 1 << PageShift;
    private const int PageMask = PageSize - 1;

    private MemberEntry[]?[] _pages;
    private bool[] _owned;
    private int _alive, _suspect, _dead, _left;

    public MemberTable()
    {
        _pages = [];
        _owned = [];
    }

    private MemberTable(MemberEntry[]?[] pages, int alive, int suspect, int dead, int left)
    {
        _pages = pages;
        _owned = new bool[pages.Length];
        _alive = alive;
        _suspect = suspect;
        _dead = dead;
        _left = left;
    }

    /// <summary>One past the highest index any page covers.</summary>
    public int Capacity => _pages.Length << PageShift;

    public int AliveCount => _alive;
    public int SuspectCount => _suspect;
    public int DeadCount => _dead;
    public int LeftCount => _left;

    /// <summary>Members believed up: alive or suspect.</summary>
    public int LiveCount => _alive + _suspect;

    /// <summary>Every member this view has ever heard of (dead and left ones are kept as tombstones).</summary>
    public int KnownCount => _alive + _suspect + _dead + _left;

    public MemberEntry this[int index]
    {
        get
        {
            int page = index >> PageShift;
            if ((uint)page >= (uint)_pages.Length) return default;
            MemberEntry[]? entries = _pages[page];
            return entries is null ? default : entries[index & PageMask];
        }
    }

    public MemberState StateOf(int index) => this[index].State;

    public void Set(int index, MemberEntry entry)
    {
        if (index < 0) throw new ArgumentOutOfRangeException(nameof(index));
        int page = index >> PageShift;
        if (page >= _pages.Length) Grow(page + 1);
        MemberEntry[]? entries = _pages[page];
        if (entries is null)
        {
            entries = new MemberEntry[PageSize];
            _pages[page] = entries;
            _owned[page] = true;
        }
        else if (!_owned[page])
        {
            entries = (MemberEntry[])entries.Clone();
            _pages[page] = entries;
            _owned[page] = true;
        }
        ref MemberEntry slot = ref entries[index & PageMask];
        Count(slot.State, -1);
        Count(entry.State, +1);
        slot = entry;
    }

    /// <summary>A copy that shares every page with this table until either side writes to it.</summary>
    public MemberTable Fork()
    {
        Array.Clear(_owned);
        return new MemberTable((MemberEntry[]?[])_pages.Clone(), _alive, _suspect, _dead, _left);
    }

    /// <summary>
    /// Replaces each page with an equal canonical page from <paramref name="pool"/> (adding this table's pages
    /// to the pool when new). Changes no entry; only how many copies of equal pages exist in memory.
    /// </summary>
    public void SharePages(PagePool pool)
    {
        for (int i = 0; i < _pages.Length; i++)
        {
            MemberEntry[]? entries = _pages[i];
            if (entries is null || !_owned[i]) continue;
            _pages[i] = pool.Canonical(entries);
            _owned[i] = false;
        }
    }

    /// <summary>True when both tables hold the same page object at <paramref name="page"/> (so the same entries).</summary>
    public bool SharesPage(MemberTable other, int page) =>
        page < _pages.Length && page < other._pages.Length && ReferenceEquals(_pages[page], other._pages[page]);

    private void Grow(int pages)
    {
        int size = Math.Max(pages, Math.Max(4, _pages.Length * 2));
        Array.Resize(ref _pages, size);
        Array.Resize(ref _owned, size);
    }

    private void Count(MemberState state, int delta)
    {
        switch (state)
        {
            case MemberState.Alive: _alive += delta; break;
            case MemberState.Suspect: _suspect += delta; break;
            case MemberState.Dead: _dead += delta; break;
            case MemberState.Left: _left += delta; break;
        }
    }
}

/// <summary>Canonical copies of member-table pages, found by content, so equal pages are held once.</summary>
public sealed class PagePool
{
    private readonly Dictionary<PageKey, MemberEntry[]> _pages = [];

    public int Count => _pages.Count;

    public MemberEntry[] Canonical(MemberEntry[] page)
    {
        var key = new PageKey(page);
        if (_pages.TryGetValue(key, out MemberEntry[]? existing)) return existing;
        _pages.Add(key, page);
        return page;
    }

    /// <summary>Forgets every page (tables keep theirs): call between phases so stale pages can be collected.</summary>
    public void Clear() => _pages.Clear();

    private readonly struct PageKey(MemberEntry[] page) : IEquatable<PageKey>
    {
        private readonly MemberEntry[] _page = page;
        private readonly int _hash = HashOf(page);

        private static int HashOf(MemberEntry[] page)
        {
            var h = new HashCode();
            foreach (MemberEntry e in page)
            {
                h.Add(e.Incarnation);
                h.Add(e.Meta);
                h.Add((byte)e.State);
            }
            return h.ToHashCode();
        }

        public bool Equals(PageKey other)
        {
            if (_hash != other._hash) return false;
            for (int i = 0; i < _page.Length; i++)
            {
                MemberEntry a = _page[i], b = other._page[i];
                if (a.Incarnation != b.Incarnation || a.Meta != b.Meta || a.State != b.State) return false;
            }
            return true;
        }

        public override bool Equals(object? obj) => obj is PageKey other && Equals(other);

        public override int GetHashCode() => _hash;
    }
}
