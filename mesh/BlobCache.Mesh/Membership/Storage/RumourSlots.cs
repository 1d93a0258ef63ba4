using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

/// <summary>
/// The rumours of a <see cref="BroadcastQueue"/> in one array of reference-free slots (a <see cref="Rumour"/>, its
/// transmit count and two links), each on a doubly linked list of the rumours sent equally often, alive rumours on
/// lists apart from the others. No object per rumour and no tree, because in a wave of crashes every node holds
/// thousands of them (and the simulator holds 100,000 nodes), and arrays without references cost the garbage
/// collector nothing to scan. Freed slots are reused, the most recently freed first. A mutable struct: keep it in a
/// field and call it through the field.
/// </summary>
internal struct RumourSlots
{
    public const int None = -1;
    private Slot[] _slots = new Slot[8];
    private int[] _head = [], _tail = []; // list (transmits·2 + lane) → oldest and newest slot on it
    private int _count, _aliveCount, _highWater, _free = None;

    public RumourSlots()
    {
    }

    /// <summary>Rumours held.</summary>
    public readonly int Count => _count;

    /// <summary>Alive rumours held.</summary>
    public readonly int AliveCount => _aliveCount;

    public readonly long ArrayBytes => (long)_slots.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<Slot>() + (_head.Length + _tail.Length) * sizeof(int);

    /// <summary>Lists made so far: every list number below it is valid, and the lists past it are empty.</summary>
    public readonly int ListCount => _tail.Length;

    /// <summary>The newest slot on <paramref name="list"/> (<see cref="None"/> when it is empty).</summary>
    public readonly int Newest(int list) => _tail[list];

    /// <summary>The oldest slot on <paramref name="list"/> (<see cref="None"/> when it is empty).</summary>
    public readonly int Oldest(int list) => _head[list];

    /// <summary>The slot queued before <paramref name="slot"/> on its list (<see cref="None"/> at the oldest).</summary>
    public readonly int Older(int slot) => _slots[slot].Prev;

    /// <summary>The slot queued after <paramref name="slot"/> on its list (<see cref="None"/> at the newest).</summary>
    public readonly int Newer(int slot) => _slots[slot].Next;

    public readonly ref readonly Rumour RumourAt(int slot) => ref _slots[slot].Rumour;

    /// <summary>True when <paramref name="slot"/> holds a rumour about <paramref name="member"/>.</summary>
    public readonly bool Holds(int slot, int member) => (uint)slot < (uint)_highWater && _slots[slot].Live && _slots[slot].Rumour.Member == member;

    /// <summary>How many times the rumour in <paramref name="slot"/> has been sent (0 when the slot holds none).</summary>
    public readonly int TransmitsOf(int slot) => (uint)slot < (uint)_highWater && _slots[slot].Live ? _slots[slot].Transmits : 0;

    /// <summary>Holds <paramref name="rumour"/>, never sent, as the newest on its list; returns its slot.</summary>
    public int Add(in Rumour rumour)
    {
        int slot;
        if (_free != None)
        {
            slot = _free;
            _free = _slots[slot].Next;
        }
        else
        {
            if (_highWater == _slots.Length) Arrays.Grow(ref _slots, Arrays.GrownByHalf(_slots.Length));
            slot = _highWater++;
        }
        _slots[slot] = new Slot { Rumour = rumour, Live = true };
        Append(slot, 0);
        _count++;
        if (rumour.Kind == UpdateKind.Alive) _aliveCount++;
        return slot;
    }

    /// <summary>Frees <paramref name="slot"/>, which must hold a rumour.</summary>
    public void Remove(int slot) => Free(slot, linked: true);

    /// <summary>
    /// Counts one more transmission of the rumour in <paramref name="slot"/>: it moves to the newest place on the
    /// list of rumours sent as often, or is freed once it has been sent <paramref name="limit"/> times.
    /// </summary>
    public void CountTransmission(int slot, int limit)
    {
        ref Slot s = ref _slots[slot];
        Unlink(slot);
        s.Transmits++;
        if (s.Transmits >= limit) Free(slot, linked: false);
        else Append(slot, s.Transmits);
    }

    /// <summary>Every alive list (even), then every other list (odd), each lane by transmits.</summary>
    public readonly int NextList(int list)
    {
        list += 2;
        return list >= _tail.Length && (list & 1) == 0 ? 1 : list;
    }

    /// <summary>Gives the slots' memory back once a burst has passed and none is held.</summary>
    public void TrimIfEmpty()
    {
        if (_count != 0 || _slots.Length <= 64) return;
        _slots = new Slot[8];
        _highWater = 0;
        _free = None;
    }

    private void Free(int slot, bool linked)
    {
        if (linked) Unlink(slot);
        ref Slot s = ref _slots[slot];
        if (s.Rumour.Kind == UpdateKind.Alive) _aliveCount--;
        s = default;
        s.Next = _free;
        _free = slot;
        _count--;
    }

    /// <summary>The list of a rumour sent <paramref name="transmits"/> times: even lists hold alive rumours.</summary>
    private static int ListOf(in Rumour r, int transmits) => transmits * 2 + (r.Kind == UpdateKind.Alive ? 0 : 1);

    private void Append(int slot, int transmits)
    {
        int list = ListOf(_slots[slot].Rumour, transmits);
        if (list >= _tail.Length)
        {
            int old = _tail.Length, size = Math.Max(16, (transmits + 1) * 2);
            Array.Resize(ref _head, size);
            Array.Resize(ref _tail, size);
            _head.AsSpan(old).Fill(None);
            _tail.AsSpan(old).Fill(None);
        }
        ref Slot s = ref _slots[slot];
        s.Prev = _tail[list];
        s.Next = None;
        if (s.Prev != None) _slots[s.Prev].Next = slot;
        else _head[list] = slot;
        _tail[list] = slot;
    }

    private void Unlink(int slot)
    {
        ref Slot s = ref _slots[slot];
        int list = ListOf(s.Rumour, s.Transmits);
        if (s.Prev != None) _slots[s.Prev].Next = s.Next;
        else _head[list] = s.Next;
        if (s.Next != None) _slots[s.Next].Prev = s.Prev;
        else _tail[list] = s.Prev;
    }

    private struct Slot
    {
        public Rumour Rumour;
        public int Prev, Next; // neighbours on the list of rumours sent as often (Next: the free list when not live)
        public byte Transmits; // bounded by the retransmit limit, far below 255
        public bool Live;
    }
}
