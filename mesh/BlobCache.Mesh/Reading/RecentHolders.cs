namespace BlobCache.Mesh.Reading;

/// <summary>
/// The members an owner last sent each chunk to, for its "busy" answers: the last <c>perKey</c> recipients of
/// each of the last <c>keys</c> chunks (the oldest chunk is forgotten first). A recipient may have evicted the chunk
/// since; the reader then hears "not here" and moves on, so a stale entry costs one round trip, never wrong bytes.
/// Fixed memory, deterministic, not thread-safe (the node guards it with a lock).
/// </summary>
public sealed class RecentHolders
{
    private readonly int _perKey;
    private readonly Dictionary<ulong, int> _slotOf;
    private readonly ulong[] _keyOf;
    private readonly int[] _members; // slot * perKey + i
    private readonly int[] _count, _next, _turn;
    private int _clock;

    public RecentHolders(int keys = 4096, int perKey = 16)
    {
        if (keys < 1) throw new ArgumentOutOfRangeException(nameof(keys), keys, "at least 1");
        if (perKey < 1) throw new ArgumentOutOfRangeException(nameof(perKey), perKey, "at least 1");
        _perKey = perKey;
        _slotOf = new Dictionary<ulong, int>(keys);
        _keyOf = new ulong[keys];
        _members = new int[keys * perKey];
        _count = new int[keys];
        _next = new int[keys];
        _turn = new int[keys];
    }

    public int Keys => _slotOf.Count;

    /// <summary>Records that <paramref name="member"/> now holds the chunk keyed <paramref name="key"/>.</summary>
    public void Add(ulong key, int member)
    {
        if (!_slotOf.TryGetValue(key, out int slot))
        {
            slot = _clock;
            _clock = (_clock + 1) % _keyOf.Length;
            if (_slotOf.TryGetValue(_keyOf[slot], out int held) && held == slot) _slotOf.Remove(_keyOf[slot]);
            _slotOf[key] = slot;
            _keyOf[slot] = key;
            _count[slot] = 0;
            _next[slot] = 0;
            _turn[slot] = 0;
        }
        Span<int> members = _members.AsSpan(slot * _perKey, _perKey);
        for (int i = 0; i < _count[slot]; i++)
        {
            if (members[i] == member) return;
        }
        members[_next[slot]] = member;
        _next[slot] = (_next[slot] + 1) % _perKey;
        if (_count[slot] < _perKey) _count[slot]++;
    }

    /// <summary>Copies the holders of a chunk, newest first, leaving out <paramref name="exclude"/> (the asker); returns how many.</summary>
    public int CopyTo(ulong key, Span<int> destination, int exclude = -1)
    {
        if (!_slotOf.TryGetValue(key, out int slot)) return 0;
        ReadOnlySpan<int> members = _members.AsSpan(slot * _perKey, _perKey);
        int written = 0;
        for (int i = 1; i <= _count[slot] && written < destination.Length; i++)
        {
            int m = members[(_next[slot] - i + _perKey) % _perKey];
            if (m != exclude) destination[written++] = m;
        }
        return written;
    }

    /// <summary>
    /// Like <see cref="CopyTo"/>, but each call for a chunk starts where the last one stopped: the readers an owner
    /// turns away at once are spread over all its recent holders instead of all going to the newest few.
    /// </summary>
    public int NextHolders(ulong key, Span<int> destination, int exclude = -1)
    {
        if (!_slotOf.TryGetValue(key, out int slot) || _count[slot] == 0) return 0;
        ReadOnlySpan<int> members = _members.AsSpan(slot * _perKey, _perKey);
        int count = _count[slot], start = _turn[slot] % count, written = 0, taken = 0;
        for (; taken < count && written < destination.Length; taken++)
        {
            int m = members[(_next[slot] - 1 - (start + taken) % count + 2 * _perKey) % _perKey];
            if (m != exclude) destination[written++] = m;
        }
        _turn[slot] = (start + taken) % count;
        return written;
    }

    /// <summary>Forgets a member everywhere it is listed (it left or died).</summary>
    public void Forget(int member)
    {
        Span<int> oldestFirst = _perKey <= 64 ? stackalloc int[_perKey] : new int[_perKey];
        foreach (int slot in _slotOf.Values)
        {
            Span<int> members = _members.AsSpan(slot * _perKey, _perKey);
            int kept = 0;
            for (int i = _count[slot]; i >= 1; i--)
            {
                int m = members[(_next[slot] - i + _perKey) % _perKey];
                if (m != member) oldestFirst[kept++] = m;
            }
            // Laid out again from 0, oldest first, so the newest sits just before _next as Add leaves it.
            oldestFirst[..kept].CopyTo(members);
            _count[slot] = kept;
            _next[slot] = kept % _perKey;
        }
    }
}
