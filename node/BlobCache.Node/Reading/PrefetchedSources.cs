using BlobCache.Node.Telemetry;
using BlobCache.Store;

namespace BlobCache.Node.Reading;

/// <summary>
/// Where chunks fetched ahead of their readers came from, until the first reader takes each: read-ahead stores a
/// chunk from a peer or Blob, and the reader that then finds it in memory is counted as a read from where the bytes
/// came from, not as a memory hit. A fixed ring of slots under a lock: the oldest entry is forgotten first, and
/// remembering or taking allocates nothing. A lookup costs nothing while the ring is empty.
/// </summary>
internal sealed class PrefetchedSources
{
    /// <summary>A few read-ahead windows' worth (the reader allows 16 read-ahead fetches at once).</summary>
    public const int Capacity = 64;

    private readonly ChunkId[] _ids = new ChunkId[Capacity];
    private readonly ReadSource[] _sources = new ReadSource[Capacity];
    private readonly bool[] _used = new bool[Capacity];
    private readonly Lock _gate = new();
    private int _next, _count;

    public void Remember(in ChunkId id, ReadSource source)
    {
        lock (_gate)
        {
            int slot = IndexOf(id);
            if (slot < 0)
            {
                slot = _next;
                _next = (_next + 1) % Capacity;
                if (!_used[slot]) _count++;
            }
            _ids[slot] = id;
            _sources[slot] = source;
            _used[slot] = true;
        }
    }

    /// <summary>The source remembered for <paramref name="id"/>, forgetting it; false when there is none.</summary>
    public bool TryTake(in ChunkId id, out ReadSource source)
    {
        source = default;
        if (Volatile.Read(ref _count) == 0) return false;
        lock (_gate)
        {
            int slot = IndexOf(id);
            if (slot < 0) return false;
            source = _sources[slot];
            _used[slot] = false;
            _ids[slot] = default;
            _count--;
            return true;
        }
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
