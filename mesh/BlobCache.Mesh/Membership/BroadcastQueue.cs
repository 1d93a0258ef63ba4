using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

/// <summary>
/// Rumours waiting to be piggy-backed. Each is sent up to a retransmit limit (λ·log10(N+1)); alive rumours
/// (refutations, joins) go before suspect and dead ones, then the least-sent go first (the most recently queued
/// first among equals), and a newer rumour about a member supersedes the older one.
/// </summary>
/// <remarks>
/// <para>
/// Rumours live in <see cref="RumourSlots"/>: reference-free slots on lists of the rumours sent equally often. Filling
/// a packet stops after a run of rumours that do not fit, instead of scanning the whole queue for a small one.
/// </para>
/// <para>
/// There is no member → rumour map. A rumour is superseded exactly when the view no longer says what it says (a
/// member's state and incarnation only move forward, and every rumour the node queues records a change of its
/// view), so <see cref="Take"/> drops a rumour the view has moved past when it comes to it, and it is never sent.
/// The one exception, a Lifeguard confirmation (the same suspicion again from another accuser), names the slot it
/// replaces. That saves a map entry per rumour, which in a wave of crashes is a fifth of a node's memory.
/// </para>
/// <para>
/// Alive rumours go first because when the packets cannot carry every rumour (many members suspected at once, as
/// when a tenth of the fleet keeps stalling), a late refutation turns a live member into a false death, while a
/// late suspicion or death only delays the detection of one that really failed. In a crash wave there are no
/// alive rumours, so the order there is unchanged.
/// </para>
/// <para>
/// At most <c>maxAliveRumours</c> alive rumours are held (serf bounds its queues the same way). In a fleet start
/// every joiner's rumour reaches every node faster than packets can carry them all λ·log N times, so an unbounded
/// queue grows with the fleet at every node: 100,000 nodes × tens of thousands of rumours. Past the bound the
/// oldest never-sent alive rumour goes (least-sent go first and the newest first among equals, so it is the one
/// that would go last); only when every other one has been sent, the oldest of the most sent, which has done the
/// most of its work. A member's own announcement (its join or refutation) is never dropped. Push-pull repairs
/// whatever a dropped rumour would have told.
/// </para>
/// </remarks>
public sealed class BroadcastQueue(MemberDirectory directory, int maxAliveRumours = int.MaxValue)
{
    private const int GiveUpAfterMisses = 8;
    private const int None = RumourSlots.None;
    private RumourSlots _slots = new();
    private readonly List<int> _taken = [];

    public MemberDirectory Directory => directory;

    /// <summary>Bytes of this queue's arrays (for the simulator's memory breakdown).</summary>
    public long ArrayBytes => _slots.ArrayBytes;

    /// <summary>Rumours queued, counting superseded ones not yet dropped.</summary>
    public int Count => _slots.Count;

    /// <summary>Alive rumours queued, counting superseded ones not yet dropped.</summary>
    public int AliveCount => _slots.AliveCount;

    /// <summary>Alive rumours dropped unsent because the queue held its bound of them.</summary>
    public long Dropped { get; private set; }

    /// <summary>Queues a rumour about <paramref name="member"/>.</summary>
    public int Enqueue(int member, in MemberUpdate update)
    {
        int meta = update.Meta is null ? 0 : directory.Intern(update.Meta);
        return Enqueue(directory.Rumour(update.Kind, member, update.Incarnation, update.From.Length == 0 ? -1 : directory.GetOrAdd(update.From), meta));
    }

    /// <summary>
    /// Queues <paramref name="rumour"/> and returns its slot; <paramref name="replacing"/> names the slot of an older
    /// rumour about the same member to drop now (ignored unless it still holds one).
    /// </summary>
    public int Enqueue(in Rumour rumour, int replacing = None)
    {
        if (Holds(replacing, rumour.Member)) _slots.Remove(replacing);
        int slot = _slots.Add(rumour);
        if (rumour.Kind == UpdateKind.Alive && _slots.AliveCount > maxAliveRumours) DropAliveBeside(slot);
        return slot;
    }

    /// <summary>Drops one alive rumour other than <paramref name="keep"/> (see the remarks for which).</summary>
    private void DropAliveBeside(int keep)
    {
        int victim = OldestDroppable(0, keep);
        for (int list = (_slots.ListCount - 1) & ~1; victim == None && list >= 2; list -= 2) victim = OldestDroppable(list, keep);
        if (victim == None) return;
        _slots.Remove(victim);
        Dropped++;
    }

    /// <summary>The oldest slot on <paramref name="list"/> that is not <paramref name="keep"/> nor a member's own announcement.</summary>
    private int OldestDroppable(int list, int keep)
    {
        for (int slot = _slots.Oldest(list); slot != None; slot = _slots.Newer(slot))
        {
            ref readonly Rumour r = ref _slots.RumourAt(slot);
            if (slot != keep && r.From != r.Member) return slot;
        }
        return None;
    }

    /// <summary>Drops the suspicion of <paramref name="member"/> queued in <paramref name="slot"/>, if it is still there (-1: none).</summary>
    public void DropSuspicion(int slot, int member)
    {
        if (Holds(slot, member) && _slots.RumourAt(slot).Kind == UpdateKind.Suspect) _slots.Remove(slot);
    }

    /// <summary>True when <paramref name="slot"/> still holds a rumour about <paramref name="member"/>.</summary>
    public bool Holds(int slot, int member) => _slots.Holds(slot, member);

    /// <summary>How many times the rumour in <paramref name="slot"/> has been sent (0 when the slot holds none).</summary>
    public int TransmitsOf(int slot) => _slots.TransmitsOf(slot);

    /// <summary>As <see cref="Take(int, int, List{Rumour}, MemberTable?, int)"/>, as updates.</summary>
    public void Take(int budgetBytes, int retransmitLimit, List<MemberUpdate> into, MemberTable? view = null, int deadRetransmitLimit = 0)
    {
        var rumours = new List<Rumour>();
        Take(budgetBytes, retransmitLimit, rumours, view, deadRetransmitLimit);
        foreach (Rumour r in rumours) into.Add(directory.ToUpdate(r));
    }

    /// <summary>
    /// Appends as many rumours as fit in <paramref name="budgetBytes"/> to <paramref name="into"/>, counts a
    /// transmission for each, and retires those that reached <paramref name="retransmitLimit"/>. Rumours that
    /// <paramref name="view"/> has moved past are dropped unsent (no view: none are). Dead rumours are retired at
    /// <paramref name="deadRetransmitLimit"/> instead when it is positive.
    /// </summary>
    public void Take(int budgetBytes, int retransmitLimit, List<Rumour> into, MemberTable? view = null, int deadRetransmitLimit = 0)
    {
        if (_slots.Count == 0 || budgetBytes < GossipCodecSizes.SmallestUpdate) return;
        retransmitLimit = Math.Clamp(retransmitLimit, 1, byte.MaxValue);
        deadRetransmitLimit = deadRetransmitLimit > 0 ? Math.Clamp(deadRetransmitLimit, 1, byte.MaxValue) : retransmitLimit;
        _taken.Clear();
        int used = 0, misses = 0;
        // Alive rumours first, then least sent first; among equals the most recently queued (or moved) first.
        for (int list = 0; list < _slots.ListCount && misses < GiveUpAfterMisses; list = _slots.NextList(list))
        {
            for (int slot = _slots.Newest(list); slot != None && misses < GiveUpAfterMisses;)
            {
                int older = _slots.Older(slot);
                ref readonly Rumour r = ref _slots.RumourAt(slot);
                if (view is not null && !IsCurrent(r, view))
                {
                    _slots.Remove(slot);
                    slot = older;
                    continue;
                }
                if (used + r.Size > budgetBytes) misses++;
                else
                {
                    used += r.Size;
                    misses = 0;
                    _taken.Add(slot);
                    if (budgetBytes - used < GossipCodecSizes.SmallestUpdate) misses = GiveUpAfterMisses;
                }
                slot = older;
            }
        }
        foreach (int slot in _taken)
        {
            ref readonly Rumour r = ref _slots.RumourAt(slot);
            into.Add(r);
            _slots.CountTransmission(slot, r.Kind == UpdateKind.Dead ? deadRetransmitLimit : retransmitLimit);
        }
        // A burst has passed: give its memory back.
        _slots.TrimIfEmpty();
    }

    /// <summary>True while <paramref name="view"/> still says what the rumour says.</summary>
    private static bool IsCurrent(in Rumour r, MemberTable view)
    {
        MemberEntry e = view[r.Member];
        if (e.Incarnation != r.Incarnation) return false;
        return r.Kind switch
        {
            UpdateKind.Alive => e.State == MemberState.Alive,
            UpdateKind.Suspect => e.State == MemberState.Suspect,
            _ => e.State is MemberState.Dead or MemberState.Left,
        };
    }
}
