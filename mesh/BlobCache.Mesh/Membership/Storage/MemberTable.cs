using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

/// <summary>
/// A node's view of the membership, indexed by directory index: an immutable <see cref="MemberBase"/> that many
/// views may share, plus this view's own differences from it in a small hash map. Views of one cluster agree on
/// almost every member almost all the time, so 100,000 simulated views hold the cluster once plus their few
/// differences; <see cref="Rebase"/> moves a view onto a newer shared base without changing what it says. A view
/// whose differences grow large (a real node's, which starts empty) folds them into a private base of its own.
/// </summary>
/// <remarks>
/// A member the base holds and this view has not heard of yet is one bit, not a map entry. In a fleet start the
/// views lag behind the shared base by every member that joined in the last several seconds: at 100,000 nodes a
/// map entry for each would be tens of gigabytes, a bit for each 12.5 KB a view. A real node's view never reads a
/// member as unheard that its base holds (it only moves forward from an empty base), so it never has the bits.
/// <para>
/// This replaced copy-on-write pages: with pages, one rumour touches one page in every view, and a wave of 1,000
/// crashes touches every page of every view before the pages can be shared again — gigabytes at 100,000 nodes.
/// Differences cost 16 bytes per member in flux, however the flux is spread.
/// </para>
/// </remarks>
public sealed class MemberTable
{
    private MemberBase _base;
    private IntMap<MemberEntry> _overlay;
    private ulong[]? _unheard; // bit set: the base holds the member and this view has not heard of it
    private int _unheardCount;
    private int _alive, _suspect, _dead, _left;

    public MemberTable() : this(MemberBase.Empty, default, null, 0, 0, 0, 0, 0)
    {
    }

    private MemberTable(MemberBase @base, IntMap<MemberEntry> overlay, ulong[]? unheard, int unheardCount, int alive, int suspect, int dead, int left)
    {
        _base = @base;
        _overlay = overlay;
        _unheard = unheard;
        _unheardCount = unheardCount;
        _alive = alive;
        _suspect = suspect;
        _dead = dead;
        _left = left;
    }

    /// <summary>Differences beyond which a view folds them into a private base (int.MaxValue: never, as the simulator wants).</summary>
    public int CompactThreshold { get; set; } = 4096;

    public int AliveCount => _alive;
    public int SuspectCount => _suspect;
    public int DeadCount => _dead;
    public int LeftCount => _left;

    /// <summary>Members believed up: alive or suspect.</summary>
    public int LiveCount => _alive + _suspect;

    /// <summary>Every member this view has ever heard of (dead and left ones are kept as tombstones).</summary>
    public int KnownCount => _alive + _suspect + _dead + _left;

    /// <summary>Members where this view differs from its base: entries it holds privately, and members it has not heard of.</summary>
    public int DifferenceCount => _overlay.Count + _unheardCount;

    /// <summary>Members the base holds and this view has not heard of (a bit each, no entry).</summary>
    public int UnheardCount => _unheardCount;

    public MemberBase Base => _base;

    /// <summary>Bytes of the differences' map and bits (the base is shared and not counted).</summary>
    public long DifferenceBytes => _overlay.ArrayBytes + (_unheard?.Length ?? 0) * sizeof(ulong);

    public MemberEntry this[int index] => _overlay.TryGet(index, out MemberEntry e) ? e : IsUnheard(index) ? default : _base[index];

    public MemberState StateOf(int index) => this[index].State;

    /// <summary>Brings the cache line of <paramref name="index"/>'s difference slot in (see <see cref="IntMap{TValue}.Touch"/>).</summary>
    public int Touch(int index) => _overlay.Touch(index);

    public void Set(int index, MemberEntry entry)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        MemberEntry old = this[index];
        Count(old.State, -1);
        Count(entry.State, +1);
        if (entry == _base[index])
        {
            _overlay.Remove(index);
            ClearUnheard(index);
        }
        else if (entry == default)
        {
            _overlay.Remove(index);
            MarkUnheard(index);
        }
        else
        {
            ClearUnheard(index);
            _overlay.Set(index, entry);
        }
        if (_overlay.Count > CompactThreshold && _overlay.Count > _base.Length / 8) Compact();
    }

    /// <summary>A copy that shares this view's base; only the differences are copied.</summary>
    public MemberTable Fork() => new(_base, _overlay.Clone(), (ulong[]?)_unheard?.Clone(), _unheardCount, _alive, _suspect, _dead, _left) { CompactThreshold = CompactThreshold };

    /// <summary>This view as a flat base, for others to share.</summary>
    public MemberBase Snapshot()
    {
        if (_overlay.Count == 0 && _unheardCount == 0) return _base;
        int length = Math.Max(_base.Length, _overlay.MaxKey + 1);
        var entries = new MemberEntry[length];
        _base.CopyTo(entries);
        _overlay.CopyTo(entries);
        if (_unheard is not null)
            for (int i = 0; i < _base.Length; i++)
                if (IsUnheard(i)) entries[i] = default;
        return new MemberBase(entries);
    }

    /// <summary>
    /// Moves this view onto <paramref name="newBase"/> without changing any entry: members where the new base
    /// differs from the old one (listed in <paramref name="changed"/>) keep this view's value as a difference, and
    /// differences the new base already holds are dropped.
    /// </summary>
    public void Rebase(MemberBase newBase, ReadOnlySpan<int> changed)
    {
        // In place: only members in `changed` can newly match or newly differ (a difference never equals the old
        // base, and elsewhere the two bases agree), so there is nothing else to look at and nothing to allocate —
        // the simulator rebases 100,000 views at a time.
        foreach (int i in changed)
        {
            MemberEntry next = newBase[i];
            if (_overlay.TryGet(i, out MemberEntry mine))
            {
                if (mine == next) _overlay.Remove(i);
            }
            else if (IsUnheard(i))
            {
                if (next == default) ClearUnheard(i);
            }
            else
            {
                MemberEntry old = _base[i];
                if (old == next) continue;
                if (old == default) MarkUnheard(i);
                else _overlay.Set(i, old);
            }
        }
        _base = newBase;
        _overlay.TrimExcess();
    }

    /// <summary>Folds the differences into a private base.</summary>
    public void Compact()
    {
        _base = Snapshot();
        _overlay = default;
        _unheard = null;
        _unheardCount = 0;
    }

    private bool IsUnheard(int index) => _unheard is { } bits && (uint)(index >> 6) < (uint)bits.Length && (bits[index >> 6] & 1UL << index) != 0;

    private void MarkUnheard(int index)
    {
        if (IsUnheard(index)) return;
        int word = index >> 6;
        if (_unheard is null || word >= _unheard.Length) Array.Resize(ref _unheard, Math.Max(word + 1, (_base.Length + 63) >> 6));
        _unheard[word] |= 1UL << index;
        _unheardCount++;
    }

    private void ClearUnheard(int index)
    {
        if (!IsUnheard(index)) return;
        _unheard![index >> 6] &= ~(1UL << index);
        // Caught up: give the bits back.
        if (--_unheardCount == 0) _unheard = null;
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
