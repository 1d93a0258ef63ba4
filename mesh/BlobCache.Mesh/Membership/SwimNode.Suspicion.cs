using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

// Lifeguard's suspicion timers: a suspicion starts at its longest timeout, shortens with each independent
// confirmation, and declares its suspect dead when it runs out unrefuted.
public sealed partial class SwimNode
{
    private void StartSuspicion(long now, int member, uint incarnation, int from)
    {
        int n = Math.Max(_table.LiveCount, 1);
        (long min, long max) = _config.SuspicionTimeouts(n);
        // Expect confirmations from k others, fewer in tiny clusters where there are not enough members to confirm.
        int k = _config.SuspicionMult - 2;
        if (n - 2 < k || !GossipsSuspicions) k = 0;
        // The set is its own timer queue: no entry per suspicion in the node's timers.
        _suspicions.Start(member, incarnation, from, k, min, max, now);
    }

    /// <summary>
    /// Independent confirmations shorten the timer (Lifeguard) and are worth passing on. Most copies of a rumour
    /// arrive after the timer has all the confirmations it counts: those end at the one map lookup. This is the
    /// hottest path of a crash wave (every node receives every rumour dozens of times).
    /// </summary>
    private void ConfirmSuspicion(long now, in Rumour u)
    {
        if (!_suspicions.TryConfirm(u.Member, u.Incarnation, u.From, now, out int confirmed)) return;
        // The same suspicion from another accuser: it replaces the rumour queued for this suspicion.
        _suspicions.SetRumourSlotAt(confirmed, _broadcasts.Enqueue(u, _suspicions.RumourSlotAt(confirmed)));
    }

    /// <summary>
    /// Ends a suspicion and drops the rumour it queued unsent: the view has moved past it, so <c>Take</c> would drop it
    /// anyway, but only once it got to it, and in a wave of crashes the slots of superseded suspicions pile up.
    /// </summary>
    private void CancelSuspicion(int member) => _broadcasts.DropSuspicion(_suspicions.Remove(member), member);

    /// <summary>
    /// Ends the earliest suspicion due at or before <paramref name="dueBy"/>, if there is one, and declares its
    /// suspect dead if the view still holds it suspect at that incarnation.
    /// </summary>
    private bool ExpireSuspicion(long now, long dueBy)
    {
        if (!_suspicions.TryExpire(dueBy, out int suspect, out uint incarnation, out int rumourSlot)) return false;
        _broadcasts.DropSuspicion(rumourSlot, suspect);
        OnSuspicionExpired(now, suspect, incarnation);
        return true;
    }

    private void OnSuspicionExpired(long now, int member, uint incarnation)
    {
        MemberEntry e = _table[member];
        if (e.State != MemberState.Suspect || e.Incarnation != incarnation) return;
        HandleDead(now, _directory.Rumour(UpdateKind.Dead, member, e.Incarnation, Self));
    }

}
