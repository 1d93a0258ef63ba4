namespace BlobCache.Mesh.Membership;

/// <summary>
/// Member index → value, open addressing with linear probing: one flat array of (key, value) entries and no
/// per-entry objects, because the simulator holds several of these per node. Key and value share a cache line, so
/// a hit costs one miss (in a crash wave every node looks up every received rumour). Deletion shifts later entries
/// back, so there are no tombstones. A mutable struct: keep it in a field and call it through the field.
/// </summary>
internal struct IntMap<TValue> where TValue : struct
{
    private const int Empty = -1;
    private Entry[]? _entries;
    private int _count;

    public readonly int Count => _count;

    public readonly long ArrayBytes => _entries is null ? 0 : (long)_entries.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<Entry>();

    public readonly bool TryGet(int key, out TValue value)
    {
        if (_count > 0)
        {
            Entry[] entries = _entries!;
            int mask = entries.Length - 1;
            for (int slot = Home(key, mask); ; slot = (slot + 1) & mask)
            {
                ref Entry e = ref entries[slot];
                if (e.Key == key)
                {
                    value = e.Value;
                    return true;
                }
                if (e.Key == Empty) break;
            }
        }
        value = default;
        return false;
    }

    public readonly bool Contains(int key) => TryGet(key, out _);

    /// <summary>
    /// Loads the cache line where <paramref name="key"/>'s probe starts and returns a bit of it, for callers that
    /// touch a batch of keys before looking them up: independent loads overlap their cache misses, the lookups
    /// that follow then hit.
    /// </summary>
    public readonly int Touch(int key)
    {
        Entry[]? entries = _entries;
        return entries is null ? 0 : Volatile.Read(ref entries[Home(key, entries.Length - 1)].Key);
    }

    public void Set(int key, TValue value)
    {
        if (_entries is null || (_count + 1) * 10 > _entries.Length * 7) Grow();
        Entry[] entries = _entries!;
        int mask = entries.Length - 1;
        int slot = Home(key, mask);
        while (entries[slot].Key != Empty && entries[slot].Key != key) slot = (slot + 1) & mask;
        if (entries[slot].Key == Empty)
        {
            entries[slot].Key = key;
            _count++;
        }
        entries[slot].Value = value;
    }

    public void Remove(int key)
    {
        if (_count == 0) return;
        Entry[] entries = _entries!;
        int mask = entries.Length - 1;
        int slot = Home(key, mask);
        while (entries[slot].Key != key)
        {
            if (entries[slot].Key == Empty) return;
            slot = (slot + 1) & mask;
        }
        // Backward-shift: move later members of the probe run into the hole when their home allows it.
        int hole = slot;
        for (int next = (hole + 1) & mask; entries[next].Key != Empty; next = (next + 1) & mask)
        {
            int home = Home(entries[next].Key, mask);
            bool movable = hole <= next ? home <= hole || home > next : home <= hole && home > next;
            if (!movable) continue;
            entries[hole] = entries[next];
            hole = next;
        }
        entries[hole] = new Entry { Key = Empty };
        _count--;
    }

    /// <summary>Gives memory back once a burst has passed: shrinks when at most an eighth of the slots are used.</summary>
    public void TrimExcess()
    {
        if (_entries is null || _entries.Length <= 64 || _count * 8 > _entries.Length) return;
        Entry[] old = _entries;
        this = default;
        foreach (Entry e in old)
            if (e.Key != Empty) Set(e.Key, e.Value);
    }

    public readonly IntMap<TValue> Clone() => _count == 0
        ? default
        : new IntMap<TValue> { _entries = (Entry[])_entries!.Clone(), _count = _count };

    public readonly int MaxKey
    {
        get
        {
            int max = -1;
            if (_entries is not null) foreach (Entry e in _entries) max = Math.Max(max, e.Key);
            return max;
        }
    }

    /// <summary>Writes every entry into <paramref name="destination"/> at its key.</summary>
    public readonly void CopyTo(Span<TValue> destination)
    {
        if (_entries is null) return;
        foreach (Entry e in _entries)
            if (e.Key != Empty) destination[e.Key] = e.Value;
    }

    private static int Home(int key, int mask)
    {
        uint h = (uint)key * 0x9E3779B1u;
        return (int)(h ^ h >> 15) & mask;
    }

    private void Grow()
    {
        int capacity = _entries is null ? 8 : _entries.Length * 2;
        Entry[]? old = _entries;
        _entries = new Entry[capacity];
        _entries.AsSpan().Fill(new Entry { Key = Empty });
        _count = 0;
        if (old is null) return;
        foreach (Entry e in old)
            if (e.Key != Empty) Set(e.Key, e.Value);
    }

    private struct Entry
    {
        public int Key;
        public TValue Value;
    }
}
