using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace BlobCache.Mesh.Placement;

/// <summary>
/// Which live member of one region owns a key: multi-probe consistent hashing read as rendezvous hashing.
/// <para>
/// Each member puts points (∝ weight) on a 2^44 ring at Mix(idHash, j) &gt;&gt; 20. A key is hashed to P probe
/// positions Mix(keyHash, p) &gt;&gt; 20. A member's score for the key is the smallest clockwise distance from any
/// probe to any of its points; the owner has the smallest score (ties: smaller idHash, then smaller Member). A
/// member's score depends only on the key and that member — never on who else is present — so this is a
/// highest-random-weight scheme: removing a member moves exactly its keys, adding one moves exactly the keys it
/// now wins, and top-k lists change by exactly that member. Unlike textbook HRW the score is searchable: a
/// probe's nearest point is a successor search, so a lookup costs P memory reads instead of N hashes.
/// </para>
/// <para>
/// Balance: a point's expected share is about 1 − e^(−X), X ~ Exp(mean P), so per-member share noise is about
/// 1/√(2·P·points): probes keep each key's winner fresh (Appel &amp; Lamping, multi-probe CH), points average out
/// the ring's gaps. Points ∝ weight makes shares ∝ weight.
/// </para>
/// Immutable and thread-safe; lookups allocate nothing.
/// </summary>
public sealed partial class RegionPlacement
{
    // A ring entry packs (point << OrdinalBits) | ordinal into one ulong. Ordinals number the members in
    // (idHash, Member) order, so for a probe q (low bits zero) the single subtraction entry − q is
    // (clockwise distance, ordinal): one unsigned compare ranks by score with the tie-break built in, and the
    // winner's ordinal falls out of the low bits.
    internal const int OrdinalBits = 20;
    internal const ulong OrdinalMask = (1UL << OrdinalBits) - 1;
    // End-of-table marker; never a real entry because ordinals stop below OrdinalMask.
    private const ulong EndOfTable = ulong.MaxValue;

    // The ring as a sorted linear-probing table: entry e sits at or after its home slot e >> _homeShift, in
    // sorted order; empty slots hold a copy of the next entry, and EndOfTable follows the last. So the successor
    // of q is the first value ≥ q at or after slot q >> _homeShift, nearly always in the first cache line read:
    // one memory read per probe, no separate index.
    private readonly ulong[] _table;
    private readonly int _homeShift;
    private readonly ulong _firstEntry;
    private readonly int _pointCount;
    // Per ordinal: the caller's Member index (what lookups return); and sorted, for Contains.
    private readonly int[] _members;
    private readonly int[] _sortedMembers;
    private readonly ulong[] _premixedProbes;

    /// <summary>A region with no members: every lookup answers -1 / 0.</summary>
    public static RegionPlacement Empty { get; } = Build([]);

    /// <summary>Members with weight &gt; 0 (those that can own keys).</summary>
    public int Count => _members.Length;

    /// <summary>The parameters this placement was built with.</summary>
    public PlacementParameters Parameters { get; }

    /// <summary>Ring points in total.</summary>
    public int PointCount => _pointCount;

    /// <summary>Memory held by the ring table, in bytes.</summary>
    public long TableBytes => _table.LongLength * sizeof(ulong);

    /// <summary>True when <paramref name="member"/> is present with weight &gt; 0.</summary>
    public bool Contains(int member) => Array.BinarySearch(_sortedMembers, member) >= 0;

    /// <summary>The owner's Member index, or -1 when the region is empty.</summary>
    public int Owner(ulong keyHash)
    {
        if (_pointCount == 0) return -1;
        ulong[] premixed = _premixedProbes;
        ref ulong table0 = ref MemoryMarshal.GetArrayDataReference(_table);
        Span<ulong> probes = stackalloc ulong[premixed.Length];
        Span<ulong> firstRead = stackalloc ulong[premixed.Length];
        // Pass 1 reads every probe's home slot with no data-dependent branch, so the CPU overlaps all P cache
        // misses; pass 2 then finishes each successor search from cache.
        for (int p = 0; p < premixed.Length; p++)
        {
            ulong probe = ProbeAt(keyHash, premixed[p]);
            probes[p] = probe;
            firstRead[p] = Unsafe.Add(ref table0, (nint)(probe >> _homeShift));
        }
        ulong best = ulong.MaxValue;
        for (int p = 0; p < probes.Length; p++)
        {
            ulong probe = probes[p];
            int home = (int)(probe >> _homeShift);
            // The successor is nearly always the home slot or the next one (same cache line, mostly): pick
            // between them without a branch and leave the rare longer scan and the wrap to ScanFrom.
            ulong entry = firstRead[p];
            ulong second = Unsafe.Add(ref table0, home + 1);
            entry = entry >= probe ? entry : second;
            if (entry < probe || entry == EndOfTable) entry = ScanFrom(home, probe);
            best = Math.Min(best, entry - probe);
        }
        return _members[(int)(best & OrdinalMask)];
    }

    /// <summary>
    /// The top-k owners (k = destination.Length, capped at Count): distinct, best first, so destination[0] is
    /// <see cref="Owner"/>. Returns how many were written. For replication and hot keys.
    /// </summary>
    public int Owners(ulong keyHash, Span<int> destination)
    {
        int k = Math.Min(destination.Length, Count);
        if (k == 0) return 0;
        // Exact top-k by score: merge the P clockwise walks from the probes in score order; a member's first
        // appearance is at its own score, so the first k distinct members are the k best.
        int probeCount = _premixedProbes.Length;
        Span<ulong> probes = stackalloc ulong[probeCount];
        Span<ulong> scores = stackalloc ulong[probeCount];
        Span<int> cursors = stackalloc int[probeCount];
        for (int p = 0; p < probeCount; p++)
        {
            ulong probe = ProbeAt(keyHash, _premixedProbes[p]);
            probes[p] = probe;
            int slot = SlotOfSuccessor(probe);
            cursors[p] = slot;
            scores[p] = EntryAt(slot) - probe;
        }
        Span<int> ordinals = k <= 64 ? stackalloc int[k] : new int[k];
        int written = 0;
        while (written < k)
        {
            int next = 0;
            for (int p = 1; p < probeCount; p++)
            {
                if (scores[p] < scores[next]) next = p;
            }
            int ordinal = (int)(scores[next] & OrdinalMask);
            if (!ordinals[..written].Contains(ordinal)) ordinals[written++] = ordinal;
            // Step this walk to the next distinct entry (gap slots repeat their successor).
            int slot = cursors[next];
            ulong current = _table[slot];
            do slot = _table[slot + 1] == EndOfTable ? 0 : slot + 1;
            while (_table[slot] == current && slot != 0);
            cursors[next] = slot;
            scores[next] = EntryAt(slot) - probes[next];
        }
        for (int i = 0; i < k; i++) destination[i] = _members[ordinals[i]];
        return k;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong ProbeAt(ulong keyHash, ulong premixedProbe) =>
        StableHash.MixPremixed(keyHash, premixedProbe) & ~OrdinalMask;

    // Successor search from a slot; wraps to the first entry at the end of the table.
    private ulong ScanFrom(int slot, ulong probe)
    {
        ulong[] table = _table;
        while (table[slot] < probe) slot++;
        ulong entry = table[slot];
        return entry == EndOfTable ? _firstEntry : entry;
    }

    private int SlotOfSuccessor(ulong probe)
    {
        int slot = (int)(probe >> _homeShift);
        while (_table[slot] < probe) slot++;
        return _table[slot] == EndOfTable ? 0 : slot;
    }

    // Slot 0 always holds the first entry (or a copy of it), so wrapped walks restart there.
    private ulong EntryAt(int slot) => _table[slot];
}
