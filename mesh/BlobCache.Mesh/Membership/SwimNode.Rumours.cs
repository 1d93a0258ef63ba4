using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

// What a rumour does to the view: alive, suspect and dead by incarnation, and the refutation of an accusation of
// ourselves.
public sealed partial class SwimNode
{
    private int _selfRumourSlot = -1; // queue slot of the latest rumour about ourselves
    private bool _accused; // the message being handled said we are suspect or dead
    private bool _quietMerge; // merging what a joiner pulls: the mesh's old news, not to be gossiped again

    /// <summary>
    /// Applies rumours from a node that shares our directory (the simulator): already in handles. Every rumour's map
    /// slots are touched first, so their cache misses overlap instead of stalling one rumour at a time.
    /// </summary>
    private void ApplyRumours(long now, ReadOnlySpan<Rumour> rumours)
    {
        int touched = 0;
        foreach (ref readonly Rumour r in rumours) touched |= _table.Touch(r.Member) | _suspicions.Touch(r.Member);
        _touched = touched;
        foreach (ref readonly Rumour r in rumours) Apply(now, r);
    }

    private void ApplyUpdates(long now, IReadOnlyList<MemberUpdate> updates)
    {
        for (int i = 0; i < updates.Count; i++)
            if (_directory.TryRumour(updates[i], out Rumour r)) Apply(now, r);
    }

    private void Apply(long now, in Rumour r)
    {
        switch (r.Kind)
        {
            case UpdateKind.Alive: HandleAlive(now, r); break;
            case UpdateKind.Suspect: HandleSuspect(now, r); break;
            case UpdateKind.Dead: HandleDead(now, r); break;
        }
    }

    private void HandleAlive(long now, in Rumour u)
    {
        if (u.Meta == 0) return;
        int member = u.Member;
        if (member == Self)
        {
            // Someone believes an incarnation of ours newer than ours, or ours with other metadata (an earlier process
            // with our id, before we restarted at a new address): outbid it. Otherwise the mesh keeps the old
            // process's address, declares it dead, and never tells us, since nobody sends to our new address.
            if (!_leaving && (u.Incarnation > _incarnation || (u.Incarnation == _incarnation && u.Meta != _selfMetaHandle))) Refute(now, u.Incarnation);
            return;
        }
        MemberEntry e = _table[member];
        if (e.State != MemberState.None && u.Incarnation <= e.Incarnation) return;
        int meta = u.Meta;
        MemberState old = e.State;
        SetEntry(member, new MemberEntry { Incarnation = u.Incarnation, Meta = meta, State = MemberState.Alive });
        CancelSuspicion(member);
        if (!_quietMerge) _broadcasts.Enqueue(u.From == Self ? u : _directory.Rumour(UpdateKind.Alive, member, u.Incarnation, Self, meta));
        MemberEventKind kind = old switch
        {
            MemberState.None or MemberState.Dead or MemberState.Left => MemberEventKind.Joined,
            MemberState.Suspect => MemberEventKind.Recovered,
            _ => MemberEventKind.Updated,
        };
        if (kind != MemberEventKind.Updated || meta != e.Meta) Events.Add(new MemberEvent(now, kind, member, u.Incarnation));
    }

    private void HandleSuspect(long now, in Rumour u)
    {
        int member = u.Member;
        if (member == Self)
        {
            if (!_leaving) RefuteOrReassert(now, u.Incarnation);
            return;
        }
        // Kept by accusers, a suspicion is ours to hold only when our own probe failed.
        if (!GossipsSuspicions && u.From != Self) return;
        MemberEntry e = _table[member];
        if (e.State == MemberState.None || u.Incarnation < e.Incarnation) return;
        if (e.State == MemberState.Suspect && u.Incarnation == e.Incarnation)
        {
            if (_config.Lifeguard) ConfirmSuspicion(now, u);
            return;
        }
        else if (e.State != MemberState.Alive) return;

        SetEntry(member, e with { Incarnation = u.Incarnation, State = MemberState.Suspect });
        // End an older suspicion first: its rumour's slot may be free and about to hold this one.
        CancelSuspicion(member);
        int queued = GossipsSuspicions ? _broadcasts.Enqueue(u) : -1;
        Events.Add(new MemberEvent(now, MemberEventKind.Suspect, member, u.Incarnation));
        StartSuspicion(now, member, u.Incarnation, u.From);
        _suspicions.SetRumourSlot(member, queued);
    }

    private void HandleDead(long now, in Rumour u)
    {
        int member = u.Member;
        if (member == Self && !_leaving)
        {
            RefuteOrReassert(now, u.Incarnation);
            return;
        }
        MemberEntry e = _table[member];
        if (e.State is MemberState.None or MemberState.Dead or MemberState.Left || u.Incarnation < e.Incarnation) return;
        bool left = u.From == member;
        SetEntry(member, e with { Incarnation = u.Incarnation, State = left ? MemberState.Left : MemberState.Dead });
        CancelSuspicion(member);
        int slot = _broadcasts.Enqueue(u);
        if (member == Self) _selfRumourSlot = slot;
        Events.Add(new MemberEvent(now, left ? MemberEventKind.Left : MemberEventKind.Dead, member, u.Incarnation));
    }

    /// <summary>
    /// A rumour says we are suspect or dead. About our current incarnation: refute it. About an older one: whoever
    /// still spreads it missed our refutation, so say we are alive again at the current incarnation (unless that
    /// is still queued) — a refutation that some member never heard otherwise ends as a false death.
    /// </summary>
    private void RefuteOrReassert(long now, uint accused)
    {
        _accused = true;
        if (accused >= _incarnation) Refute(now, accused);
        else if (!SelfRumourQueued) AnnounceSelf(now);
    }

    /// <summary>Someone thinks we are suspect or dead: take a higher incarnation and say we are alive (and count it against our own health).</summary>
    private void Refute(long now, uint accused)
    {
        // Saturates: an accusation at uint.MaxValue (only a forged one gets there) must not wrap our incarnation
        // back to 0, below what every peer already holds for us.
        uint highest = Math.Max(_incarnation, accused);
        _incarnation = highest == uint.MaxValue ? highest : highest + 1;
        _awareness.Apply(1);
        AnnounceSelf(now);
    }

    private void AnnounceSelf(long now)
    {
        SetEntry(Self, new MemberEntry { Incarnation = _incarnation, Meta = _selfMetaHandle, State = MemberState.Alive });
        _selfRumourSlot = _broadcasts.Enqueue(_directory.Rumour(UpdateKind.Alive, Self, _incarnation, Self, _selfMetaHandle));
    }
}
