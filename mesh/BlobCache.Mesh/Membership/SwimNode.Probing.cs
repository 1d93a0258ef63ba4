using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

// SWIM's failure detector: one probe per protocol period, indirect probes through k others when it goes
// unanswered, then suspicion; with Lifeguard's nacks, local health and buddy system.
public sealed partial class SwimNode
{
    private Probe? _probe;
    private ProbeRound _probeRound;
    private readonly Dictionary<uint, Relay> _relays = [];

    private void OnProbeTimer(long now)
    {
        ConcludeProbe(now);
        long period = _config.Lifeguard ? _awareness.Scale(_probeInterval) : _probeInterval;
        Schedule(now + period, SwimTimerKind.Probe);
        if (_leaving) return;
        // Every other period, probe a member we suspect (when there is one): if it is alive after all, its answer
        // carries the refutation we may have missed, and the buddy suspicion below tells it that it must refute.
        bool buddy = _config.Lifeguard || !GossipsSuspicions; // an unspread suspicion reaches its suspect only this way
        int target = buddy && _table.SuspectCount > 0 && _suspicions.Count > 0 && _random.Next(2) == 0
            ? RandomSuspect()
            : _probeRound.Next(_random, _table, _directory.Count, Self);
        if (target < 0) return;
        uint seq = ++_seq;
        _probe = new Probe(target, seq, _table[target].Incarnation);
        MemberMeta meta = MetaOf(target)!;
        var ping = new Ping { SourceId = Id, Seq = seq, TargetId = meta.Id, SourceAddress = _selfMeta.GossipAddress };
        if (_table[target].State == MemberState.Suspect && buddy)
        {
            // Lifeguard's buddy system: tell a suspect directly, so it can refute even if the rumour never reached it.
            Send(target, meta.GossipAddress, ping, _directory.Rumour(UpdateKind.Suspect, target, _table[target].Incarnation, Self));
        }
        else
        {
            Send(target, meta.GossipAddress, ping);
        }
        Schedule(now + _probeTimeout, SwimTimerKind.IndirectProbe, (int)seq);
    }

    private void OnIndirectProbeTimer(long now, uint seq)
    {
        if (_probe is not { } probe || probe.Seq != seq || probe.Acked) return;
        MemberMeta target = MetaOf(probe.Target)!;
        ScratchMembers.Clear();
        PickRandomLive(_config.IndirectChecks, probe.Target, ScratchMembers);
        foreach (int via in ScratchMembers)
        {
            Send(via, MetaOf(via)!.GossipAddress, new IndirectPing
            {
                SourceId = Id,
                Seq = seq,
                TargetId = target.Id,
                TargetAddress = target.GossipAddress,
                SourceAddress = _selfMeta.GossipAddress,
                WantNack = _config.Lifeguard,
            });
        }
        probe.ExpectedNacks = _config.Lifeguard ? ScratchMembers.Count : 0;
    }

    /// <summary>End of a protocol period: an unanswered probe makes the target suspect (SWIM) and may lower our own health (Lifeguard).</summary>
    private void ConcludeProbe(long now)
    {
        if (_probe is not { } probe) return;
        _probe = null;
        if (probe.Acked) return;
        if (probe.ExpectedNacks > 0)
        {
            if (probe.Nacks < probe.ExpectedNacks) _awareness.Apply(probe.ExpectedNacks - probe.Nacks);
        }
        else
        {
            _awareness.Apply(1);
        }
        MemberEntry e = _table[probe.Target];
        // A suspect we heard of that stays silent to our own probe too is an independent confirmation (each accuser is
        // counted once, so an accuser's repeated probes add nothing). Without it only members whose probe failed before
        // the rumour reached them could confirm: a fraction of a second's window, so a crash often waited out most of
        // the longest timeout (17 s instead of 6 at 32 members).
        if (e.State is not (MemberState.Alive or MemberState.Suspect) || e.Incarnation != probe.Incarnation) return;
        HandleSuspect(now, _directory.Rumour(UpdateKind.Suspect, probe.Target, e.Incarnation, Self));
        // Nobody else hears of a suspicion kept by its accuser, so tell the suspect now, once: a suspect we probe
        // again already had it with the ping.
        if (!GossipsSuspicions && e.State == MemberState.Alive) TellSuspect(probe.Target);
    }

    /// <summary>
    /// Pings a member we suspect with the suspicion: if it is alive, its ack carries the refutation straight back
    /// (the ack matches no probe; only its rumours count).
    /// </summary>
    private void TellSuspect(int member)
    {
        MemberEntry e = _table[member];
        if (e.State != MemberState.Suspect || MetaOf(member) is not { } meta) return;
        Send(member, meta.GossipAddress, new Ping { SourceId = Id, Seq = ++_seq, TargetId = meta.Id, SourceAddress = _selfMeta.GossipAddress },
            _directory.Rumour(UpdateKind.Suspect, member, e.Incarnation, Self));
    }

    /// <summary>
    /// Suspicions kept by their accusers: once a probe period (unstretched by our health, which loss or a stall
    /// may have lowered), tell a few of the members we suspect, so a live one gets several chances to refute
    /// before our timer runs out. Nobody else will tell it.
    /// </summary>
    private void RemindSuspects()
    {
        int count = _suspicions.Count;
        if (count == 0 || _leaving) return;
        int start = _random.Next(count);
        for (int i = 0; i < Math.Min(count, MaxRemindersPerPeriod); i++) TellSuspect(_suspicions.MemberAt((start + i) % count));
    }

    private const int MaxRemindersPerPeriod = 8;

    /// <summary>A random member we suspect.</summary>
    private int RandomSuspect()
    {
        for (int tries = 0; tries < 8; tries++)
        {
            int m = _suspicions.MemberAt(_random.Next(_suspicions.Count));
            if (m != Self && _table[m].State == MemberState.Suspect) return m;
        }
        return _probeRound.Next(_random, _table, _directory.Count, Self);
    }

    private void OnPing(long now, Ping ping)
    {
        if (!string.Equals(ping.TargetId, Id, StringComparison.Ordinal)) return;
        int to = _directory.TryGet(ping.SourceId, out int idx) ? idx : -1;
        Answer(to, ping.SourceAddress, ping.Seq);
    }

    /// <summary>
    /// Acks a probe. When the probe accused us (Lifeguard's buddy system), the ack leads with our current alive
    /// rumour: the refutation may sit deep in our queue behind others' (many members refuting at once), and the
    /// accuser must not time out waiting for the gossip to bring it.
    /// </summary>
    private void Answer(int to, string address, uint seq)
    {
        var ack = new Ack { SourceId = Id, Seq = seq };
        if (_accused) Send(to, address, ack, _directory.Rumour(UpdateKind.Alive, Self, _incarnation, Self, _selfMetaHandle));
        else Send(to, address, ack);
    }

    private void OnIndirectPing(long now, IndirectPing ip)
    {
        if (string.Equals(ip.TargetId, Id, StringComparison.Ordinal))
        {
            // Asked to probe ourselves: answer the requester directly.
            Answer(_directory.TryGet(ip.SourceId, out int s) ? s : -1, ip.SourceAddress, ip.Seq);
            return;
        }
        uint seq = ++_seq;
        _relays[seq] = new Relay(ip.Seq, ip.SourceId, ip.SourceAddress, ip.WantNack);
        int target = _directory.TryGet(ip.TargetId, out int t) ? t : -1;
        Send(target, ip.TargetAddress, new Ping { SourceId = Id, Seq = seq, TargetId = ip.TargetId, SourceAddress = _selfMeta.GossipAddress });
        // Lifeguard: the nack goes out before the requester's own deadline so it can tell "target silent" from "I am cut off".
        Schedule(now + _probeTimeout * 8 / 10, SwimTimerKind.RelayNack, (int)seq);
    }

    private void OnAck(long now, Ack ack)
    {
        if (_probe is { } probe && probe.Seq == ack.Seq)
        {
            if (!probe.Acked)
            {
                probe.Acked = true;
                _awareness.Apply(-1);
            }
            return;
        }
        if (_reconnects.Remove(ack.Seq, out int revived))
        {
            // A member we think dead answered: exchange full state so both sides learn the truth.
            MemberMeta? meta = MetaOf(revived);
            if (meta is not null) Send(revived, meta.GossipAddress, MakeRequest(join: false));
            return;
        }
        if (_relays.Remove(ack.Seq, out Relay? relay))
        {
            int to = _directory.TryGet(relay.SourceId, out int s) ? s : -1;
            Send(to, relay.SourceAddress, new Ack { SourceId = Id, Seq = relay.Seq });
        }
    }

    private void OnNack(Nack nack)
    {
        if (_probe is { } probe && probe.Seq == nack.Seq) probe.Nacks++;
    }

    private void OnRelayTimer(uint seq)
    {
        if (!_relays.Remove(seq, out Relay? relay) || !relay.WantNack) return;
        int to = _directory.TryGet(relay.SourceId, out int s) ? s : -1;
        Send(to, relay.SourceAddress, new Nack { SourceId = Id, Seq = relay.Seq });
    }

    private sealed class Probe(int target, uint seq, uint incarnation)
    {
        public readonly int Target = target;
        public readonly uint Seq = seq;
        public readonly uint Incarnation = incarnation;
        public bool Acked;
        public int ExpectedNacks;
        public int Nacks;
    }

    private sealed record Relay(uint Seq, string SourceId, string SourceAddress, bool WantNack);
}
