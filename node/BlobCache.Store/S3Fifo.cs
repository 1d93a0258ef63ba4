namespace BlobCache.Store;

/// <summary>
/// S3-FIFO eviction by bytes (Yang et al., SOSP 2023): a small FIFO (~10% of the capacity) that new entries enter,
/// a main FIFO with a 2-bit access count per entry, and a ghost FIFO of recently evicted keys. A one-time entry
/// leaves from the small queue without ever touching main, so a scan passes through while entries read again stay.
/// Not thread-safe: the owner holds one lock around every call. No per-operation allocation once warm: entries live
/// in a slot array linked by index, and the dictionaries reuse their freed entries.
/// </summary>
internal sealed class S3Fifo<T>
{
    private const byte InSmall = 1;
    private const byte InMain = 2;
    private const byte MaxFreq = 3;

    private struct Slot
    {
        public ChunkId Id;
        public T Value;
        public long Size;
        public int Prev;   // towards the head (newer)
        public int Next;   // towards the tail (older); also the free-list link
        public byte Freq;
        public byte Queue;
    }

    private struct Queue
    {
        public int Head;   // newest
        public int Tail;   // oldest, next to leave
        public long Bytes;
    }

    private readonly Dictionary<ChunkId, int> _map = [];
    private Slot[] _slots = new Slot[16];
    private int _slotsUsed;
    private int _freeHead = -1;
    private Queue _small = new() { Head = -1, Tail = -1 };
    private Queue _main = new() { Head = -1, Tail = -1 };

    // Ghost: keys only (with their size for the byte bound), in a ring in eviction order. A key that comes back
    // while in the ghost goes straight to main. A ghost hit leaves a stale ring entry behind; the sequence number
    // tells a live ring entry from a stale one.
    private readonly Dictionary<ChunkId, (long Seq, long Size)> _ghost = [];
    private (ChunkId Id, long Seq)[] _ghostRing = new (ChunkId, long)[16];
    private int _ghostStart;
    private int _ghostLength;
    private long _ghostSeq;
    private long _ghostBytes;

    public S3Fifo(long capacityBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacityBytes);
        Capacity = capacityBytes;
        SmallTarget = capacityBytes / 10;
    }

    public long Capacity { get; }
    public long SmallTarget { get; }
    public long Bytes => _small.Bytes + _main.Bytes;
    public int Count => _map.Count;
    public int GhostCount => _ghost.Count;

    public bool Contains(in ChunkId id) => _map.ContainsKey(id);

    public bool InGhost(in ChunkId id) => _ghost.ContainsKey(id);

    /// <summary>Looks the entry up and counts the access (saturating at 3).</summary>
    public bool TryGet(in ChunkId id, out T value)
    {
        if (!_map.TryGetValue(id, out int i))
        {
            value = default!;
            return false;
        }
        ref Slot s = ref _slots[i];
        if (s.Freq < MaxFreq)
            s.Freq++;
        value = s.Value;
        return true;
    }

    /// <summary>Counts <paramref name="accesses"/> more accesses of an entry (saturating at 3); false when it is not here.</summary>
    public bool Touch(in ChunkId id, int accesses)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(accesses);
        if (!_map.TryGetValue(id, out int i))
            return false;
        ref Slot s = ref _slots[i];
        s.Freq = (byte)Math.Min(MaxFreq, s.Freq + accesses);
        return true;
    }

    /// <summary>Looks the entry up without counting an access.</summary>
    public bool TryPeek(in ChunkId id, out T value)
    {
        if (_map.TryGetValue(id, out int i))
        {
            value = _slots[i].Value;
            return true;
        }
        value = default!;
        return false;
    }

    /// <summary>
    /// Adds a new entry, first evicting until it fits; evicted entries are appended to <paramref name="evicted"/>.
    /// False (nothing changes) when the key is present or the entry is larger than the whole capacity.
    /// </summary>
    public bool TryAdd(in ChunkId id, T value, long size, List<KeyValuePair<ChunkId, T>> evicted, bool toMain = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        if (size > Capacity || _map.ContainsKey(id))
            return false;
        MakeRoom(size, evicted);
        // A key seen again soon after it was evicted is not a one-timer: skip the probation queue.
        if (_ghost.Remove(id, out var ghost))
        {
            _ghostBytes -= ghost.Size;
            toMain = true;
        }
        int i = AllocSlot();
        ref Slot s = ref _slots[i];
        s.Id = id;
        s.Value = value;
        s.Size = size;
        s.Freq = 0;
        if (toMain)
            Push(ref _main, i, InMain);
        else
            Push(ref _small, i, InSmall);
        _map.Add(id, i);
        return true;
    }

    /// <summary>Evicts until <paramref name="size"/> more bytes fit within the capacity.</summary>
    public void MakeRoom(long size, List<KeyValuePair<ChunkId, T>> evicted)
    {
        while (Bytes + size > Capacity && EvictOne(evicted))
        {
        }
    }

    /// <summary>Removes an entry without remembering it in the ghost (a corrupt file, a failed write).</summary>
    public bool Remove(in ChunkId id, out T value)
    {
        if (!_map.Remove(id, out int i))
        {
            value = default!;
            return false;
        }
        value = _slots[i].Value;
        Unlink(i);
        FreeSlot(i);
        return true;
    }

    /// <summary>Every entry, oldest of small first then oldest of main; for disposal and tests.</summary>
    public void CopyTo(List<KeyValuePair<ChunkId, T>> into)
    {
        for (int i = _small.Tail; i >= 0; i = _slots[i].Prev)
            into.Add(new(_slots[i].Id, _slots[i].Value));
        for (int i = _main.Tail; i >= 0; i = _slots[i].Prev)
            into.Add(new(_slots[i].Id, _slots[i].Value));
    }

    public void Clear()
    {
        _map.Clear();
        _ghost.Clear();
        System.Array.Clear(_slots);
        System.Array.Clear(_ghostRing);
        _slotsUsed = 0;
        _freeHead = -1;
        _small = new() { Head = -1, Tail = -1 };
        _main = new() { Head = -1, Tail = -1 };
        _ghostStart = _ghostLength = 0;
        _ghostBytes = 0;
    }

    private bool EvictOne(List<KeyValuePair<ChunkId, T>> evicted)
    {
        while (true)
        {
            if (_small.Tail >= 0 && (_small.Bytes >= SmallTarget || _main.Tail < 0))
            {
                int i = _small.Tail;
                Unlink(i);
                ref Slot s = ref _slots[i];
                if (s.Freq > 0)
                {
                    // Read again while on probation: it earns a place in main, with its count reset.
                    s.Freq = 0;
                    Push(ref _main, i, InMain);
                    continue;
                }
                AddGhost(s.Id, s.Size);
                Evict(i, evicted);
                return true;
            }
            if (_main.Tail >= 0)
            {
                int i = _main.Tail;
                Unlink(i);
                ref Slot s = ref _slots[i];
                if (s.Freq > 0)
                {
                    // Second chance, one per access counted: hot entries keep circulating.
                    s.Freq--;
                    Push(ref _main, i, InMain);
                    continue;
                }
                Evict(i, evicted);
                return true;
            }
            return false;
        }
    }

    private void Evict(int i, List<KeyValuePair<ChunkId, T>> evicted)
    {
        ref Slot s = ref _slots[i];
        _map.Remove(s.Id);
        evicted.Add(new(s.Id, s.Value));
        FreeSlot(i);
    }

    private void AddGhost(in ChunkId id, long size)
    {
        if (_ghost.ContainsKey(id))
            return;
        if (_ghostLength == _ghostRing.Length)
            GrowGhostRing();
        long seq = ++_ghostSeq;
        _ghostRing[(_ghostStart + _ghostLength) % _ghostRing.Length] = (id, seq);
        _ghostLength++;
        _ghost.Add(id, (seq, size));
        _ghostBytes += size;
        // Remember about as many bytes of keys as main holds; drop stale ring entries so the ring stays bounded.
        long limit = Capacity - SmallTarget;
        while (_ghostLength > 0 && (_ghostBytes > limit || _ghostLength > (2 * _ghost.Count) + 16))
        {
            var (oldId, oldSeq) = _ghostRing[_ghostStart];
            _ghostRing[_ghostStart] = default;
            _ghostStart = (_ghostStart + 1) % _ghostRing.Length;
            _ghostLength--;
            if (_ghost.TryGetValue(oldId, out var live) && live.Seq == oldSeq)
            {
                _ghost.Remove(oldId);
                _ghostBytes -= live.Size;
            }
        }
    }

    private void GrowGhostRing()
    {
        var bigger = new (ChunkId, long)[_ghostRing.Length * 2];
        for (int k = 0; k < _ghostLength; k++)
            bigger[k] = _ghostRing[(_ghostStart + k) % _ghostRing.Length];
        _ghostRing = bigger;
        _ghostStart = 0;
    }

    private int AllocSlot()
    {
        if (_freeHead >= 0)
        {
            int i = _freeHead;
            _freeHead = _slots[i].Next;
            return i;
        }
        if (_slotsUsed == _slots.Length)
            System.Array.Resize(ref _slots, _slots.Length * 2);
        return _slotsUsed++;
    }

    private void FreeSlot(int i)
    {
        _slots[i] = default;   // drop the id's strings and the value
        _slots[i].Next = _freeHead;
        _freeHead = i;
    }

    private void Push(ref Queue q, int i, byte which)
    {
        ref Slot s = ref _slots[i];
        s.Queue = which;
        s.Prev = -1;
        s.Next = q.Head;
        if (q.Head >= 0)
            _slots[q.Head].Prev = i;
        q.Head = i;
        if (q.Tail < 0)
            q.Tail = i;
        q.Bytes += s.Size;
    }

    private void Unlink(int i)
    {
        ref Slot s = ref _slots[i];
        ref Queue q = ref s.Queue == InSmall ? ref _small : ref _main;
        if (s.Prev >= 0)
            _slots[s.Prev].Next = s.Next;
        else
            q.Head = s.Next;
        if (s.Next >= 0)
            _slots[s.Next].Prev = s.Prev;
        else
            q.Tail = s.Prev;
        q.Bytes -= s.Size;
        s.Prev = s.Next = -1;
        s.Queue = 0;
    }
}
