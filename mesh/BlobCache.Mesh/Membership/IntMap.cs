namespace BlobCache.Mesh.Membership;

/// <summary>
/// Member index → value, open addressing with linear probing: two flat arrays and no per-entry objects, because
/// the simulator holds several of these per node. Deletion shifts later entries back, so there are no tombstones.
/// A mutable struct: keep it in a field and call it through the field.
/// </summary>
internal struct IntMap<TValue> where TValue : struct
{
    private const int Empty = -1;
    private int[]? _keys;
    private TValue[]? _values;
    private int _count;

    public readonly int Count => _count;

    public readonly long ArrayBytes => _keys is null ? 0 : (long)_keys.Length * (sizeof(int) + System.Runtime.CompilerServices.Unsafe.SizeOf<TValue>());

    public readonly bool TryGet(int key, out TValue value)
    {
        if (_count > 0)
        {
            int[] keys = _keys!;
            int mask = keys.Length - 1;
            for (int slot = Home(key, mask); ; slot = (slot + 1) & mask)
            {
                int k = keys[slot];
                if (k == key)
                {
                    value = _values![slot];
                    return true;
                }
                if (k == Empty) break;
            }
        }
        value = default;
        return false;
    }

    public readonly bool Contains(int key) => TryGet(key, out _);

    public void Set(int key, TValue value)
    {
        if (_keys is null || (_count + 1) * 10 > _keys.Length * 7) Grow();
        int[] keys = _keys!;
        int mask = keys.Length - 1;
        int slot = Home(key, mask);
        while (keys[slot] != Empty && keys[slot] != key) slot = (slot + 1) & mask;
        if (keys[slot] == Empty)
        {
            keys[slot] = key;
            _count++;
        }
        _values![slot] = value;
    }

    public void Remove(int key)
    {
        if (_count == 0) return;
        int[] keys = _keys!;
        TValue[] values = _values!;
        int mask = keys.Length - 1;
        int slot = Home(key, mask);
        while (keys[slot] != key)
        {
            if (keys[slot] == Empty) return;
            slot = (slot + 1) & mask;
        }
        // Backward-shift: move later members of the probe run into the hole when their home allows it.
        int hole = slot;
        for (int next = (hole + 1) & mask; keys[next] != Empty; next = (next + 1) & mask)
        {
            int home = Home(keys[next], mask);
            bool movable = hole <= next ? home <= hole || home > next : home <= hole && home > next;
            if (!movable) continue;
            keys[hole] = keys[next];
            values[hole] = values[next];
            hole = next;
        }
        keys[hole] = Empty;
        _count--;
    }

    /// <summary>Gives memory back once a burst has passed: shrinks when at most an eighth of the slots are used.</summary>
    public void TrimExcess()
    {
        if (_keys is null || _keys.Length <= 64 || _count * 8 > _keys.Length) return;
        int[] keys = _keys;
        TValue[] values = _values!;
        this = default;
        for (int i = 0; i < keys.Length; i++)
            if (keys[i] != Empty) Set(keys[i], values[i]);
    }

    public readonly IntMap<TValue> Clone() => _count == 0
        ? default
        : new IntMap<TValue> { _keys = (int[])_keys!.Clone(), _values = (TValue[])_values!.Clone(), _count = _count };

    public readonly int MaxKey
    {
        get
        {
            int max = -1;
            if (_keys is not null) foreach (int k in _keys) max = Math.Max(max, k);
            return max;
        }
    }

    /// <summary>Writes every entry into <paramref name="destination"/> at its key.</summary>
    public readonly void CopyTo(Span<TValue> destination)
    {
        if (_keys is null) return;
        for (int i = 0; i < _keys.Length; i++)
            if (_keys[i] != Empty) destination[_keys[i]] = _values![i];
    }

    private static int Home(int key, int mask)
    {
        uint h = (uint)key * 0x9E3779B1u;
        return (int)(h ^ h >> 15) & mask;
    }

    private void Grow()
    {
        int capacity = _keys is null ? 8 : _keys.Length * 2;
        int[]? oldKeys = _keys;
        TValue[]? oldValues = _values;
        _keys = new int[capacity];
        Array.Fill(_keys, Empty);
        _values = new TValue[capacity];
        _count = 0;
        if (oldKeys is null) return;
        for (int i = 0; i < oldKeys.Length; i++)
            if (oldKeys[i] != Empty) Set(oldKeys[i], oldValues![i]);
    }
}
