using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

/// <summary>
/// One member's SWIM failure detector and gossip, with the Lifeguard refinements, as a state machine.
/// The host calls <see cref="Start"/>, then <see cref="Receive"/> for each decoded message and <see cref="Tick"/>
/// whenever <see cref="NextDue"/> has come, always passing the current time; after each call it sends
/// <see cref="Outbox"/> and reads <see cref="Events"/>, and clears both. Nothing here reads a clock, touches I/O or
/// depends on hash-table order: the same seed and the same calls give the same outputs, bit for bit.
/// </summary>
public sealed class SwimNode
{
    private readonly MeshConfig _config;
    private readonly MemberDirectory _directory;
    private readonly DeterministicRandom _random;
    private readonly BroadcastQueue _broadcasts;
    private readonly Awareness _awareness;
    private readonly PriorityQueue<Timer, (long Due, long Order)> _timers = new();
    private readonly SuspicionSet _suspicions;
    private readonly Dictionary<uint, Relay> _relays = [];
    private readonly Dictionary<uint, int> _reconnects = [];
    // Scratch lists shared by every node on a thread: a node's call never runs another node's code, and the
    // simulator holds 100,000 nodes that would otherwise each keep their own.
    [ThreadStatic] private static List<int>? t_scratchMembers;
    [ThreadStatic] private static List<Rumour>? t_scratchRumours;
    private readonly long _probeInterval, _probeTimeout, _gossipInterval, _pushPullInterval, _joinRetryInterval, _reconnectInterval;
    private MemberTable _table = new();
    private MemberMeta _selfMeta;
    private int _selfMetaHandle;
    private uint _incarnation;
    private uint _seq;
    private long _timerOrder;
    private Probe? _probe;
    private string[] _seeds = [];
    private bool _started, _joined, _leaving;
    private int _viewVersion;
    private int _touched; // keeps the touches above from being optimised away
    private int _selfRumourSlot = -1; // queue slot of the latest rumour about ourselves
    private bool _accused; // the message being handled said we are suspect or dead
    private int _pushPullTimer; // the live push-pull timer's number: an earlier one, superseded, is ignored when it fires
    private long _pushPullDue;
    private int _joinAttempts, _joinedVia = -1;
    private bool _bootstrapping; // joined through seeds and not yet holding a view pulled from the mesh
    private bool _quietMerge; // merging what a joiner pulls: the mesh's old news, not to be gossiped again
    private bool _viewsDiffer; // the last push-pull found our view and a peer's apart: exchange again soon
    private long _gossipRounds;

    // Randomised round-robin probe order: a fresh random odd stride over a power-of-two range each round.
    private int _roundPos, _roundCapacity;
    private ulong _roundOffset, _roundStride;

    public SwimNode(MeshConfig config, MemberMeta self, MemberDirectory directory, ulong seed)
    {
        config.Validate();
        _config = config;
        _directory = directory;
        _random = new DeterministicRandom(seed);
        _awareness = new Awareness(config.Lifeguard ? config.AwarenessMaxMultiplier : 1);
        _suspicions = new SuspicionSet(Math.Max(0, config.SuspicionMult - 2));
        _broadcasts = new BroadcastQueue(directory);
        _selfMeta = self;
        Self = directory.GetOrAdd(self.Id);
        _selfMetaHandle = directory.Intern(self);
        _probeInterval = Micros.From(config.ProbeInterval);
        _probeTimeout = Micros.From(config.ProbeTimeout);
        _gossipInterval = Micros.From(config.GossipInterval);
        _pushPullInterval = Micros.From(config.PushPullInterval);
        _joinRetryInterval = Micros.From(config.JoinRetryInterval);
        _reconnectInterval = Micros.From(config.ReconnectInterval);
    }

    /// <summary>This node's index in the directory.</summary>
    public int Self { get; }

    public string Id => _selfMeta.Id;

    public MemberMeta Meta => _selfMeta;

    public uint Incarnation => _incarnation;

    public MemberDirectory Directory => _directory;

    /// <summary>This node's view. Read it; never write it.</summary>
    public MemberTable View => _table;

    /// <summary>Changes whenever any member's state, incarnation or metadata changes in this view.</summary>
    public int ViewVersion => _viewVersion;

    public bool Joined => _joined;

    public bool Leaving => _leaving;

    /// <summary>Lifeguard's local health score (0 = healthy).</summary>
    public int HealthScore => _awareness.Score;

    /// <summary>Messages to send, in order. The host sends and clears them after every call.</summary>
    public List<Outbound> Outbox { get; } = [];

    /// <summary>What changed, in order. The host reads and clears them after every call.</summary>
    public List<MemberEvent> Events { get; } = [];

    /// <summary>
    /// Bytes of this node's per-member arrays by part: broadcast queue, suspicions, their confirmer ids, the map
    /// that finds them, their timer heap, view differences. For memory breakdowns (the simulator prints them).
    /// </summary>
    public StateBytes StateBytes
    {
        get
        {
            (long records, long confirmers, long map, long heap) = _suspicions.ArrayBytes;
            return new StateBytes(_broadcasts.ArrayBytes, records, confirmers, map, heap, _table.DifferenceBytes);
        }
    }

    /// <summary>Rumours still waiting to be sent.</summary>
    public int PendingBroadcasts => _broadcasts.Count;

    /// <summary>When the host must call <see cref="Tick"/> next (long.MaxValue when nothing is scheduled).</summary>
    public long NextDue => Math.Min(_timers.TryPeek(out _, out var p) ? p.Due : long.MaxValue, _suspicions.NextDue);

    /// <summary>True once the leave rumour has gone out at least once (then the host may stop).</summary>
    public bool LeaveSent => _leaving && (!SelfRumourQueued || _broadcasts.TransmitsOf(_selfRumourSlot) > 0);

    private bool SelfRumourQueued => _broadcasts.Holds(_selfRumourSlot, Self);

    public MemberState StateOf(int member) => _table.StateOf(member);

    public MemberMeta? MetaOf(int member)
    {
        MemberEntry e = _table[member];
        return e.Meta == 0 ? null : _directory.MetaOf(e.Meta);
    }

    /// <summary>Begins: adds itself as alive and pushes its state to every seed address that is not its own.</summary>
    public void Start(long now, IReadOnlyList<string> seedAddresses)
    {
        if (_started) throw new InvalidOperationException("already started");
        _started = true;
        SetEntry(Self, new MemberEntry { Incarnation = _incarnation, Meta = _selfMetaHandle, State = MemberState.Alive });
        _seeds = seedAddresses.Where(s => !string.Equals(s, _selfMeta.GossipAddress, StringComparison.Ordinal)).ToArray();
        // Random phases keep a fleet started at one instant from probing in lock-step.
        Schedule(now + _random.NextInt64(_probeInterval), TimerKind.Probe);
        Schedule(now + _random.NextInt64(_gossipInterval), TimerKind.Gossip);
        SchedulePushPull(now + PushPullPeriod() / 2 + _random.NextInt64(Math.Max(1, PushPullPeriod() / 2)));
        Schedule(now + _reconnectInterval / 2 + _random.NextInt64(Math.Max(1, _reconnectInterval / 2)), TimerKind.Reconnect);
        if (_seeds.Length == 0)
        {
            _joined = true;
            return;
        }
        _bootstrapping = true;
        SendJoin(now);
    }

    /// <summary>
    /// Begins as a member of an already converged mesh whose membership is <paramref name="view"/> (which must list
    /// this node as alive with its metadata). The view is forked, so thousands of nodes started from one table share
    /// its base and each holds only its own differences. This is how the simulator starts 100,000 nodes without 100,000 joins; a real
    /// node always joins through <see cref="Start"/>.
    /// </summary>
    public void StartConverged(long now, MemberTable view)
    {
        if (_started) throw new InvalidOperationException("already started");
        MemberEntry self = view[Self];
        if (self.State != MemberState.Alive || self.Meta != _selfMetaHandle)
            throw new ArgumentException("the view must list this node as alive with its own metadata", nameof(view));
        _started = true;
        _joined = true;
        _incarnation = self.Incarnation;
        _table = view.Fork();
        _viewVersion++;
        Schedule(now + _random.NextInt64(_probeInterval), TimerKind.Probe);
        Schedule(now + _random.NextInt64(_gossipInterval), TimerKind.Gossip);
        SchedulePushPull(now + _random.NextInt64(Math.Max(1, PushPullPeriod())));
        Schedule(now + _random.NextInt64(Math.Max(1, _reconnectInterval)), TimerKind.Reconnect);
    }

    /// <summary>Moves this view onto a newer shared base (see <see cref="MemberTable.Rebase"/>); changes no state.</summary>
    public void RebaseView(MemberBase newBase, ReadOnlySpan<int> changed) => _table.Rebase(newBase, changed);

    /// <summary>Announces a graceful leave. Keep driving the node until <see cref="LeaveSent"/> (or a deadline), then stop.</summary>
    public void Leave(long now)
    {
        if (_leaving) return;
        _leaving = true;
        HandleDead(now, _directory.Rumour(UpdateKind.Dead, Self, _incarnation, Self));
        SendGossipRound(now);
    }

    /// <summary>Publishes new metadata (weight, endpoints) under a new incarnation.</summary>
    public void UpdateMeta(long now, MemberMeta meta)
    {
        if (!string.Equals(meta.Id, _selfMeta.Id, StringComparison.Ordinal)) throw new ArgumentException("a node cannot change its id", nameof(meta));
        _selfMeta = meta;
        _selfMetaHandle = _directory.Intern(meta);
        _incarnation++;
        AnnounceSelf(now);
    }

    /// <summary>Handles one decoded message. Messages about unknown members or stale incarnations change nothing.</summary>
    public void Receive(long now, GossipMessage message)
    {
        if (!_started) return;
        // Rumours first: a ping that tells us we are suspected gets an ack that already carries our refutation.
        _accused = false;
        if (message.Updates is RumourList rumours && ReferenceEquals(rumours.Directory, _directory))
        {
            // From a node that shares our directory (the simulator): already in handles. Touch every rumour's map
            // slots first, so their cache misses overlap instead of stalling one rumour at a time.
            int touched = 0;
            foreach (ref readonly Rumour r in rumours.Items) touched |= _table.Touch(r.Member) | _suspicions.Touch(r.Member);
            _touched = touched;
            foreach (ref readonly Rumour r in rumours.Items) Apply(now, r);
        }
        else
        {
            ApplyUpdates(now, message.Updates);
        }
        switch (message)
        {
            case Ping ping: OnPing(now, ping); break;
            case IndirectPing ip: OnIndirectPing(now, ip); break;
            case Ack ack: OnAck(now, ack); break;
            case Nack nack: OnNack(nack); break;
            case PushPull pp: OnPushPull(now, pp); break;
            case Gossip: break;
        }
    }

    /// <summary>Runs every timer due at or before <paramref name="now"/>.</summary>
    public void Tick(long now)
    {
        while (true)
        {
            long timerDue = _timers.TryPeek(out Timer timer, out var p) ? p.Due : long.MaxValue;
            if (timerDue > now || timerDue > _suspicions.NextDue)
            {
                // Suspicions due no later than the next timer expire first (a timer wins a tie).
                if (!_suspicions.TryExpire(Math.Min(now, timerDue - 1), out int suspect, out uint incarnation, out int rumourSlot)) break;
                _broadcasts.DropSuspicion(rumourSlot, suspect);
                OnSuspicionExpired(now, suspect, incarnation);
                continue;
            }
            _timers.Dequeue();
            switch (timer.Kind)
            {
                case TimerKind.Probe: OnProbeTimer(now); break;
                case TimerKind.IndirectProbe: OnIndirectProbeTimer(now, (uint)timer.Arg); break;
                case TimerKind.Gossip:
                    SendGossipRound(now);
                    if (!GossipsSuspicions && ++_gossipRounds % Math.Max(1, _probeInterval / _gossipInterval) == 0) RemindSuspects();
                    Schedule(now + _gossipInterval, TimerKind.Gossip);
                    break;
                case TimerKind.PushPull: OnPushPullTimer(now, timer.Arg); break;
                case TimerKind.JoinRetry: OnJoinRetry(now); break;
                case TimerKind.Reconnect: OnReconnectTimer(now); break;
                case TimerKind.RelayNack: OnRelayTimer((uint)timer.Arg); break;
            }
        }
    }

    // ---------------------------------------------------------------- probing

    private void OnProbeTimer(long now)
    {
        ConcludeProbe(now);
        long period = _config.Lifeguard ? _awareness.Scale(_probeInterval) : _probeInterval;
        Schedule(now + period, TimerKind.Probe);
        if (_leaving) return;
        // Every other period, probe a member we suspect (when there is one): if it is alive after all, its answer
        // carries the refutation we may have missed, and the buddy suspicion below tells it that it must refute.
        bool buddy = _config.Lifeguard || !GossipsSuspicions; // an unspread suspicion reaches its suspect only this way
        int target = buddy && _table.SuspectCount > 0 && _suspicions.Count > 0 && _random.Next(2) == 0
            ? RandomSuspect()
            : NextProbeTarget();
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
        Schedule(now + _probeTimeout, TimerKind.IndirectProbe, (int)seq);
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
        // A suspect that stays silent is no news: our own silence is not an independent confirmation.
        if (e.State != MemberState.Alive || e.Incarnation != probe.Incarnation) return;
        HandleSuspect(now, _directory.Rumour(UpdateKind.Suspect, probe.Target, e.Incarnation, Self));
        // Nobody else hears of a suspicion kept by its accuser, so tell the suspect now.
        if (!GossipsSuspicions) TellSuspect(probe.Target);
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
        return NextProbeTarget();
    }

    private int NextProbeTarget()
    {
        // Bounded: two full rounds at most, then give up until the next period.
        for (int steps = 0; steps < 2 * Math.Max(_roundCapacity, 1) + _directory.Count + 2; steps++)
        {
            // A new round when this one is done, or when members joined beyond its range (they must not wait a
            // whole round, N protocol periods, before anyone probes them: a joiner that crashes would go unnoticed).
            if (_roundPos >= _roundCapacity || _directory.Count > _roundCapacity)
            {
                _roundCapacity = (int)Math.Max(1, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)_directory.Count));
                _roundOffset = _random.NextUInt64();
                _roundStride = _random.NextUInt64() | 1;
                _roundPos = 0;
            }
            int candidate = (int)((_roundOffset + (ulong)_roundPos * _roundStride) & (ulong)(_roundCapacity - 1));
            _roundPos++;
            // Bounded by the directory as it is now, so members that joined during the round are probed in it.
            if (candidate >= _directory.Count || candidate == Self) continue;
            if (_table[candidate].IsLive) return candidate;
        }
        return -1;
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
        Schedule(now + _probeTimeout * 8 / 10, TimerKind.RelayNack, (int)seq);
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

    // ---------------------------------------------------------------- gossip and anti-entropy

    private void SendGossipRound(long now)
    {
        if (_broadcasts.Count == 0) return;
        ScratchMembers.Clear();
        PickRandomLive(_config.GossipNodes, -1, ScratchMembers);
        foreach (int member in ScratchMembers)
        {
            if (_broadcasts.Count == 0) break;
            var message = new Gossip { SourceId = Id };
            Send(member, MetaOf(member)!.GossipAddress, message);
            if (message.Updates.Count == 0) Outbox.RemoveAt(Outbox.Count - 1);
        }
    }

    private long PushPullPeriod()
    {
        int n = Math.Max(_table.LiveCount, 1);
        // While exchanges keep finding differences (a fleet starting, a partition healing) the mesh is in flux and
        // gossip alone may not keep up: exchange at the base interval until one finds the views agree. An exchange
        // between agreeing views costs its digest only (about N/4 bytes).
        if (n <= 32 || _viewsDiffer) return _pushPullInterval;
        // A push-pull passes over the whole view and sends its digest, so its cost per node grows with N. memberlist
        // stretches the period by log2(N/32); stretching it by N/32 keeps anti-entropy between agreeing views near
        // 100 B/s per node at any size and the mesh-wide rate near one exchange per interval/32 (about one a
        // second) — enough to repair the rare rumour that gossip failed to deliver.
        return (long)Math.Min(_pushPullInterval * (n / 32.0), long.MaxValue / 4);
    }

    private void SchedulePushPull(long due)
    {
        _pushPullDue = due;
        Schedule(due, TimerKind.PushPull, ++_pushPullTimer);
    }

    /// <summary>Notes whether a push-pull found the views apart; apart, the next exchange comes within the base interval.</summary>
    private void ViewsDiffered(long now, bool differ)
    {
        bool was = _viewsDiffer;
        _viewsDiffer = differ;
        if (differ && !was && _pushPullDue > now + _pushPullInterval)
            SchedulePushPull(now + _pushPullInterval / 2 + _random.NextInt64(Math.Max(1, _pushPullInterval / 2)));
    }

    private void OnPushPullTimer(long now, int timer)
    {
        if (timer != _pushPullTimer) return;
        SchedulePushPull(now + PushPullPeriod());
        if (!_leaving) PushPullWithRandomMember();
    }

    private void PushPullWithRandomMember()
    {
        ScratchMembers.Clear();
        // The first exchange after a join by sample goes to anyone but the member that answered (a seed, often).
        PickRandomLive(1, _joinedVia, ScratchMembers);
        _joinedVia = -1;
        if (ScratchMembers.Count == 0) return;
        int peer = ScratchMembers[0];
        Send(peer, MetaOf(peer)!.GossipAddress, MakeRequest(join: false));
    }

    private void OnReconnectTimer(long now)
    {
        Schedule(now + _reconnectInterval, TimerKind.Reconnect);
        _reconnects.Clear(); // an unanswered reconnect ping from last round is simply forgotten
        if (_leaving || _table.DeadCount == 0) return;
        int size = _directory.Count;
        int start = _random.Next(size);
        for (int i = 0; i < size; i++)
        {
            int c = (start + i) % size;
            if (c == Self || _table.StateOf(c) != MemberState.Dead) continue;
            uint seq = ++_seq;
            _reconnects[seq] = c;
            MemberMeta meta = MetaOf(c)!;
            Send(c, meta.GossipAddress, new Ping { SourceId = Id, Seq = seq, TargetId = meta.Id, SourceAddress = _selfMeta.GossipAddress });
            return;
        }
    }

    /// <summary>
    /// Asks one seed to let us in, the next one on each retry from a random first: a fleet starting at once then
    /// spreads over its seeds instead of asking every seed for the same view.
    /// </summary>
    private void SendJoin(long now)
    {
        if (_joinAttempts++ == 0 && _seeds.Length > 1) _joinAttempts += _random.Next(_seeds.Length);
        Send(-1, _seeds[(_joinAttempts - 1) % _seeds.Length], MakeRequest(join: true));
        Schedule(now + _joinRetryInterval, TimerKind.JoinRetry);
    }

    private void OnJoinRetry(long now)
    {
        if (_leaving) return;
        if (_joined)
        {
            // In by a sample, and no view yet: the member asked for it may be gone. Ask another, until one answers.
            if (!_bootstrapping) return;
            PushPullWithRandomMember();
            Schedule(now + _joinRetryInterval, TimerKind.JoinRetry);
            return;
        }
        Events.Add(new MemberEvent(now, MemberEventKind.JoinRetry, Self, _incarnation));
        SendJoin(now);
    }

    /// <summary>
    /// Opens a push-pull: our own record (so the peer learns of us even if it holds nothing like us, as a seed does
    /// of a joiner) and the digest of our view, from which the peer tells what we lack. A joiner knows only itself,
    /// so its digest is one bucket, and the answer is the peer's whole view.
    /// </summary>
    private PushPull MakeRequest(bool join)
    {
        MemberEntry self = _table[Self];
        return new PushPull
        {
            SourceId = Id, SourceAddress = _selfMeta.GossipAddress, Join = join, IsReply = false,
            Members = [new MemberRecord(_selfMeta, self.Incarnation, self.State)],
            Digest = Digest(ViewDigest.BucketsFor(_table.KnownCount)),
        };
    }

    /// <summary>Our view's digest; our suspicions hash as ours alone where a suspicion heard from a push-pull counts.</summary>
    private uint[] Digest(int buckets) => ViewDigest.Of(_table, _directory, buckets, GossipsSuspicions ? _directory.IdHashOf(Self) : 0);

    /// <summary>
    /// Answers a join from a view bigger than <see cref="MeshConfig.JoinSampleMembers"/>: the joiner as we see it (so
    /// a restarted member learns at once which incarnation to outbid), ourselves and random live members, as many as
    /// one datagram holds (at most that many), without a digest, which tells the joiner it has a sample and should
    /// pull the view from one of them. So a seed answers a joiner with one datagram however big the mesh, and the
    /// views themselves come from the whole mesh.
    /// </summary>
    private PushPull MakeJoinSample(int joiner)
    {
        ScratchMembers.Clear();
        if (joiner >= 0 && _table[joiner].State != MemberState.None) ScratchMembers.Add(joiner);
        ScratchMembers.Add(Self);
        PickRandomLive(_config.JoinSampleMembers, joiner, ScratchMembers);
        var sample = new PushPull { SourceId = Id, SourceAddress = _selfMeta.GossipAddress, IsReply = true, Members = [] };
        // The members array header may grow from one byte to three past 15 members: reserve it.
        int room = _config.MaxPacketBytes - GossipCodec.Measure(sample) - 2;
        var members = new List<MemberRecord>(ScratchMembers.Count);
        foreach (int m in ScratchMembers)
        {
            MemberEntry e = _table[m];
            var record = new MemberRecord(_directory.MetaOf(e.Meta), e.Incarnation, e.State);
            room -= GossipCodec.MeasureMember(record);
            // The first two (the joiner, ourselves) go whatever the room: without them the answer says nothing.
            if (room < 0 && members.Count >= 2) break;
            members.Add(record);
        }
        return new PushPull { SourceId = Id, SourceAddress = _selfMeta.GossipAddress, IsReply = true, Members = members };
    }

    /// <summary>
    /// Answers a push-pull: every member of each bucket where our view's digest differs from <paramref name="theirs"/>
    /// (all of them when the asker sent no digest). With <paramref name="withDigest"/> the answer carries our digest,
    /// so the asker can send back what we lack in turn.
    /// </summary>
    private PushPull MakeAnswer(uint[] theirs, bool withDigest)
    {
        uint[]? mine = theirs.Length == 0 ? null : Digest(theirs.Length);
        var members = new List<MemberRecord>();
        int count = _directory.Count;
        for (int i = 0; i < count; i++)
        {
            MemberEntry e = _table[i];
            if (e.State == MemberState.None) continue;
            if (mine is not null)
            {
                int bucket = ViewDigest.Bucket(_directory.IdHashOf(i), mine.Length);
                if (mine[bucket] == theirs[bucket]) continue;
            }
            members.Add(new MemberRecord(_directory.MetaOf(e.Meta), e.Incarnation, e.State));
        }
        return new PushPull
        {
            SourceId = Id, SourceAddress = _selfMeta.GossipAddress, IsReply = true, Members = members,
            Digest = withDigest && mine is not null ? mine : [],
        };
    }

    private void OnPushPull(long now, PushPull pp)
    {
        bool sample = false;
        if (pp.IsReply && !_joined)
        {
            _joined = true;
            Events.Add(new MemberEvent(now, MemberEventKind.JoinedMesh, Self, _incarnation));
            // A sample, not the view: pull the view from one of the members it named, soon (a random delay within
            // a gossip interval keeps a fleet's joiners from all asking at one instant).
            sample = pp.Digest.Length == 0;
            if (sample) SchedulePushPull(now + 1 + _random.NextInt64(_gossipInterval));
        }
        // What a joiner pulls, the mesh knows: it spreads none of it (a fleet of joiners re-gossiping the whole
        // membership each would swamp gossip), only what it learns from then on.
        _quietMerge = _bootstrapping && pp.IsReply;
        foreach (MemberRecord r in pp.Members)
        {
            MemberUpdate u = r.State switch
            {
                MemberState.Alive => new MemberUpdate(UpdateKind.Alive, r.Meta.Id, r.Incarnation, pp.SourceId, r.Meta),
                MemberState.Left => new MemberUpdate(UpdateKind.Dead, r.Meta.Id, r.Incarnation, r.Meta.Id, null),
                // A remote "dead" only makes us suspect: we want our own timer to decide (memberlist's rule).
                MemberState.Suspect or MemberState.Dead => new MemberUpdate(UpdateKind.Suspect, r.Meta.Id, r.Incarnation, pp.SourceId, null),
                _ => default,
            };
            if (u.MemberId is not null && _directory.TryRumour(u, out Rumour rumour)) Apply(now, rumour);
        }
        _quietMerge = false;
        int to = _directory.TryGet(pp.SourceId, out int s) ? s : -1;
        if (sample) _joinedVia = to;
        else if (_bootstrapping && pp.IsReply) _bootstrapping = false; // holding a view pulled from the mesh
        if (!pp.IsReply && pp.Join && _table.LiveCount > _config.JoinSampleMembers + 2)
        {
            Send(to, pp.SourceAddress, MakeJoinSample(to));
        }
        else if (!pp.IsReply)
        {
            // Reply after merging, so the answer already carries any refutation the merge caused
            // (after a healed partition that is what lets the two sides accept each other in one round trip).
            Send(to, pp.SourceAddress, MakeAnswer(pp.Digest, withDigest: true));
        }
        else if (pp.Digest.Length > 0)
        {
            // The answer to our request, with the peer's digest: what still differs after merging is what it lacks.
            // Sent without a digest, so the exchange ends here.
            PushPull back = MakeAnswer(pp.Digest, withDigest: false);
            if (back.Members.Count > 0) Send(to, pp.SourceAddress, back);
            ViewsDiffered(now, pp.Members.Count > 0 || back.Members.Count > 0);
        }
        else if (pp.Members.Count > 0)
        {
            ViewsDiffered(now, true); // a peer sent what we lacked
        }
    }

    // ---------------------------------------------------------------- rumours

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
            // Independent confirmations shorten the timer (Lifeguard) and are worth passing on. Most copies of a
            // rumour arrive after the timer has all the confirmations it counts: those end at the one map lookup.
            // This is the hottest path of a crash wave (every node receives every rumour dozens of times).
            int active = _config.Lifeguard ? _suspicions.FindWanting(member) : -1;
            if (active < 0 || _suspicions.IncarnationAt(active) != u.Incarnation) return;
            int previous = _suspicions.RumourSlotAt(active);
            if (_suspicions.ConfirmAt(active, u.From, now, out _, out _))
            {
                // The same suspicion from another accuser: it replaces the rumour queued for this suspicion.
                _suspicions.SetRumourSlotAt(active, _broadcasts.Enqueue(u, previous));
            }
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

    // ---------------------------------------------------------------- suspicion timers

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
    /// Ends a suspicion and drops the rumour it queued unsent: the view has moved past it, so <c>Take</c> would drop it
    /// anyway, but only once it got to it, and in a wave of crashes the slots of superseded suspicions pile up.
    /// </summary>
    private void CancelSuspicion(int member) => _broadcasts.DropSuspicion(_suspicions.Remove(member), member);

    private void OnSuspicionExpired(long now, int member, uint incarnation)
    {
        MemberEntry e = _table[member];
        if (e.State != MemberState.Suspect || e.Incarnation != incarnation) return;
        HandleDead(now, _directory.Rumour(UpdateKind.Dead, member, e.Incarnation, Self));
    }

    // ---------------------------------------------------------------- helpers

    private void SetEntry(int member, MemberEntry entry)
    {
        _table.Set(member, entry);
        _viewVersion++;
    }

    private bool GossipsSuspicions => _config.GossipsSuspicions(_table.LiveCount);


    /// <summary>
    /// Queues a message with as many rumours piggy-backed as fit the datagram budget (push-pull carries none), and
    /// the channel it goes by (<see cref="GossipChannels.Choose"/>).
    /// </summary>
    private void Send(int toMember, string toAddress, GossipMessage message) => Send(toMember, toAddress, message, default, false);

    /// <summary>As <see cref="Send(int, string, GossipMessage)"/>, with <paramref name="first"/> first in the packet (it uses up room).</summary>
    private void Send(int toMember, string toAddress, GossipMessage message, in Rumour first) => Send(toMember, toAddress, message, first, true);

    private void Send(int toMember, string toAddress, GossipMessage message, in Rumour first, bool hasFirst)
    {
        if (message is not PushPull && (hasFirst || _broadcasts.Count > 0))
        {
            List<Rumour> rumours = ScratchRumours;
            rumours.Clear();
            int room = GossipCodecSizes.Room(message, _config.MaxPacketBytes);
            if (hasFirst)
            {
                room -= first.Size;
                rumours.Add(first);
            }
            int live = _table.LiveCount;
            _broadcasts.Take(room, _config.RetransmitLimit(live), rumours, _table, _config.DeadRetransmitLimit(live));
            // One exact-size array per packet: the list is reused, so a packet costs no resizing.
            if (rumours.Count > 0) message.Updates = new RumourList(_directory, rumours.ToArray());
        }
        GossipChannel channel = GossipChannels.Choose(message, _config.MaxPacketBytes, out int bytes);
        Outbox.Add(new Outbound(toMember, toAddress, message, channel, bytes));
    }

    /// <summary>Up to <paramref name="count"/> distinct live members other than self and <paramref name="exclude"/>, chosen at random.</summary>
    private void PickRandomLive(int count, int exclude, List<int> into)
    {
        int size = _directory.Count;
        int available = _table.LiveCount - 1 - (exclude >= 0 && _table[exclude].IsLive ? 1 : 0);
        count = Math.Min(count, available);
        if (count <= 0) return;
        // Random tries first (cheap when most known members are live), then a bounded scan from a random point.
        for (int tries = 0; tries < count * 8 && into.Count < count; tries++)
        {
            int c = _random.Next(size);
            if (c != Self && c != exclude && _table[c].IsLive && !into.Contains(c)) into.Add(c);
        }
        int start = _random.Next(size);
        for (int i = 0; i < size && into.Count < count; i++)
        {
            int c = (start + i) % size;
            if (c != Self && c != exclude && _table[c].IsLive && !into.Contains(c)) into.Add(c);
        }
    }

    private static List<int> ScratchMembers => t_scratchMembers ??= [];

    private static List<Rumour> ScratchRumours => t_scratchRumours ??= [];

    private void Schedule(long due, TimerKind kind, int arg = 0) =>
        _timers.Enqueue(new Timer(kind, arg), (due, ++_timerOrder));

    private enum TimerKind : byte { Probe, IndirectProbe, Gossip, PushPull, JoinRetry, RelayNack, Reconnect }

    private readonly record struct Timer(TimerKind Kind, int Arg);

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

/// <summary>Bytes of one node's per-member arrays (see <see cref="SwimNode.StateBytes"/>).</summary>
public readonly record struct StateBytes(long Queue, long Suspicions, long Confirmers, long SuspicionMap, long SuspicionHeap, long ViewDifferences)
{
    public long Total => Queue + Suspicions + Confirmers + SuspicionMap + SuspicionHeap + ViewDifferences;

    public static StateBytes operator +(StateBytes a, StateBytes b) => new(a.Queue + b.Queue, a.Suspicions + b.Suspicions,
        a.Confirmers + b.Confirmers, a.SuspicionMap + b.SuspicionMap, a.SuspicionHeap + b.SuspicionHeap, a.ViewDifferences + b.ViewDifferences);
}
