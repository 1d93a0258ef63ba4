using BlobCache.Node.Telemetry;
using BlobCache.Store;

namespace BlobCache.Node.Reading;

/// <summary>
/// Chunks fetched ahead of their readers, until the first reader takes each. Two things are kept per chunk:
/// <list type="bullet">
/// <item>where it came from, so the reader that then finds it in memory is counted as a read from a peer or Blob, not
/// as a memory hit;</item>
/// <item>a reference to it, so a memory tier that evicts it before its reader comes (its small queue can be smaller
/// than a read-ahead window) does not make the reader fetch it a second time.</item>
/// </list>
/// A fixed set of slots under a lock: a new entry takes a free slot, and only when none is free is the oldest entry
/// forgotten and its reference given back, so the chunks held outside the memory tier are at most
/// <see cref="Capacity"/>. Readers take their chunks in any order, and a slot reused in turn would drop a chunk
/// whose reader is still coming while other slots stand empty (that reader then reads it from Blob a second time).
/// Remembering and taking allocate nothing; a lookup costs nothing while the set is empty.
/// </summary>
internal sealed class PrefetchedChunks : IDisposable
{
    /// <summary>As many as the reader fetches ahead at once: one read-ahead window per sequential reader of a few.</summary>
    public const int Capacity = 16;

    private readonly ChunkId[] _ids = new ChunkId[Capacity];
    private readonly ReadSource[] _sources = new ReadSource[Capacity];
    private readonly ChunkBuffer?[] _held = new ChunkBuffer?[Capacity];
    private readonly bool[] _used = new bool[Capacity];
    private readonly long[] _rememberedAt = new long[Capacity]; // a sequence number: the smallest is the oldest
    private readonly Lock _gate = new();
    private long _sequence;
    private int _count;

    /// <summary>
    /// Notes where the fetch of <paramref name="id"/> got it and keeps <paramref name="held"/>, a reference the caller
    /// added for the chunk's first reader. Called before the fetch hands the chunk on, so no reader can come between
    /// the fetch's end and the chunk being held.
    /// </summary>
    public void Remember(in ChunkId id, ReadSource source, ChunkBuffer held)
    {
        ChunkBuffer? displaced;
        lock (_gate)
        {
            int slot = IndexOf(id);
            if (slot < 0)
            {
                slot = FreeOrOldest();
                displaced = _used[slot] ? Forget(slot) : null;
                _count++;
            }
            else displaced = _held[slot];
            _rememberedAt[slot] = ++_sequence;
            _ids[slot] = id;
            _sources[slot] = source;
            _held[slot] = held;
            _used[slot] = true;
        }
        displaced?.Release();
    }

    /// <summary>Whether <paramref name="id"/> is held for its first reader: fetching it ahead again would read it twice.</summary>
    public bool Contains(in ChunkId id)
    {
        if (Volatile.Read(ref _count) == 0) return false;
        lock (_gate) return IndexOf(id) >= 0;
    }

    /// <summary>Forgets <paramref name="id"/>; the reference held for it passes to the caller. False when it is not remembered.</summary>
    public bool TryTake(in ChunkId id, out ReadSource source, out ChunkBuffer held)
    {
        source = default;
        held = null!;
        if (Volatile.Read(ref _count) == 0) return false;
        lock (_gate)
        {
            int slot = IndexOf(id);
            if (slot < 0) return false;
            source = _sources[slot];
            held = Forget(slot)!;
            return true;
        }
    }

    /// <summary>Gives back every held reference (the node is stopping).</summary>
    public void Dispose()
    {
        var release = new List<ChunkBuffer>();
        lock (_gate)
        {
            for (int i = 0; i < Capacity; i++)
            {
                if (_used[i] && Forget(i) is { } held) release.Add(held);
            }
        }
        foreach (ChunkBuffer chunk in release) chunk.Release();
    }

    private ChunkBuffer? Forget(int slot)
    {
        ChunkBuffer? held = _held[slot];
        _held[slot] = null;
        _used[slot] = false;
        _ids[slot] = default;
        _count--;
        return held;
    }

    private int FreeOrOldest()
    {
        int oldest = 0;
        for (int i = 0; i < Capacity; i++)
        {
            if (!_used[i]) return i;
            if (_rememberedAt[i] < _rememberedAt[oldest]) oldest = i;
        }
        return oldest;
    }

    private int IndexOf(in ChunkId id)
    {
        for (int i = 0; i < Capacity; i++)
        {
            if (_used[i] && _ids[i].Index == id.Index && _ids[i].Equals(id)) return i;
        }
        return -1;
    }
}
