using System.Collections;
using BlobCache.Mesh.Reading;

namespace BlobCache.Sim.Scenarios;

/// <summary>
/// Per-node data-plane state: which chunks it holds (a bit per chunk), its read cursor, its NIC queues, how many
/// chunks it is sending now and whom it last sent each chunk to. With a capacity, held chunks also sit on a CLOCK
/// ring: a used bit per chunk, and the hand evicts the first chunk not used since it last passed (an approximation
/// of least recently used without a list node per chunk).
/// </summary>
internal sealed class NodeData(int chunks, int capacity)
{
    /// <summary>
    /// Chunks a node remembers recipients of. The node keeps thousands; in the simulator the readers move through
    /// the chunks together, so the recent ones are the ones asked about, and 100,000 nodes' lists stay small.
    /// </summary>
    private const int RecentKeys = 64;

    /// <summary>Past this many chunks a node's held set is a hash set: a fleet over a million small objects holds a few each.</summary>
    private const int DenseUpTo = 65_536;

    private readonly BitArray? _heldDense = chunks <= DenseUpTo ? new(chunks) : null;
    private readonly HashSet<int>? _heldSparse = chunks <= DenseUpTo ? null : [];
    private readonly BitArray? _used = capacity > 0 ? new(chunks) : null;
    private int[] _ring = [];
    private int _count, _hand;
    private RecentHolders? _recent;
    /// <summary>The read cursor over the phase's order, its step, and where this node's reads end.</summary>
    public int Position, Stride = 1, End, Reading;
    /// <summary>Pages of the dataset's listing this node has (job-start): it asks for the next only once it has this one.</summary>
    public int ListedPages;
    /// <summary>Transfers on this node's egress queue, what <see cref="OwnerPolicy"/> limits.</summary>
    public int Sending;
    public long EgressFree, IngressFree;
    /// <summary>When this node's last successful read finished, and whether any of its reads failed.</summary>
    public long LastReadAt = -1;
    public bool Failed;
    private MetadataHeld? _metadata;

    /// <summary>The 1-s window of <see cref="MetadataServedInWindow"/> (virtual seconds), and the peers' metadata requests this node received in it.</summary>
    public long MetadataWindow = -1;
    public int MetadataServedInWindow;

    /// <summary>When the node's entry for a metadata key (a blob's properties, a listing page) expires (0: never held).</summary>
    public long MetadataUntil(int key) => _metadata?.Until(key) ?? 0;

    /// <summary>When Blob gave the entry the node holds for a key: how stale a read that uses it is.</summary>
    public long MetadataFetchedAt(int key) => _metadata?.FetchedAt(key) ?? 0;

    /// <summary>Keeps an entry Blob gave at <paramref name="fetchedAt"/> until <paramref name="until"/>, unless it holds a fresher answer already.</summary>
    public void KeepMetadata(int key, long fetchedAt, long until, long now) => (_metadata ??= new MetadataHeld()).Keep(key, fetchedAt, until, now);

    public bool Has(int chunk) => _heldDense?[chunk] ?? _heldSparse!.Contains(chunk);

    private void SetHeld(int chunk, bool held)
    {
        if (_heldDense is not null) _heldDense[chunk] = held;
        else if (held) _heldSparse!.Add(chunk);
        else _heldSparse!.Remove(chunk);
    }

    /// <summary>Members this node sent chunks to, created on its first send (most nodes of a big epoch never send).</summary>
    public RecentHolders Recent => _recent ??= new RecentHolders(Math.Min(RecentKeys, chunks), perKey: 16);

    /// <summary>Copies the recipients of a chunk for a busy answer; 0 when this node never sent anything.</summary>
    public int CopyHolders(ulong key, Span<int> destination, int exclude) => _recent?.NextHolders(key, destination, exclude) ?? 0;

    /// <summary>Marks a held chunk as just used (read here or served to a peer).</summary>
    public void Touch(int chunk) => _used?.Set(chunk, true);

    /// <summary>Keeps a chunk; returns how many it evicted for room (0 or 1).</summary>
    public int Add(int chunk)
    {
        if (Has(chunk)) return 0;
        SetHeld(chunk, true);
        if (_used is null) return 0;
        if (_count < capacity)
        {
            // The ring grows as the cache fills, so small caches of many nodes cost only what they hold.
            if (_count == _ring.Length) Array.Resize(ref _ring, Math.Min(capacity, Math.Max(16, _ring.Length * 2)));
            _ring[_count++] = chunk;
            return 0;
        }
        while (true)
        {
            int victim = _ring[_hand];
            if (_used[victim])
            {
                _used[victim] = false; // a second chance
                _hand = (_hand + 1) % capacity;
                continue;
            }
            SetHeld(victim, false);
            _ring[_hand] = chunk;
            _hand = (_hand + 1) % capacity;
            return 1;
        }
    }
}
