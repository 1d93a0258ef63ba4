using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

/// <summary>
/// One member's SWIM failure detector and gossip, with the Lifeguard refinements, as a state machine.
/// The host calls <see cref="Start"/>, then <see cref="Receive"/> for each decoded message and <see cref="Tick"/>
/// whenever <see cref="NextDue"/> has come, always passing the current time; after each call it sends
/// <see cref="Outbox"/> and reads <see cref="Events"/>, and clears both. Nothing here reads a clock, touches I/O or
/// depends on hash-table order: the same seed and the same calls give the same outputs, bit for bit.
/// </summary>
public sealed partial class SwimNode
{
    private readonly MeshConfig _config;
    private readonly MemberDirectory _directory;
    private readonly DeterministicRandom _random;
    private readonly BroadcastQueue _broadcasts;
    private readonly Awareness _awareness;
    private readonly TimerQueue _timers = new();
    private readonly SuspicionSet _suspicions;
    private readonly long _probeInterval, _probeTimeout, _gossipInterval, _pushPullInterval, _joinRetryInterval, _reconnectInterval;
    private MemberTable _table = new();
    private MemberMeta _selfMeta;
    private int _selfMetaHandle;
    private uint _incarnation;
    private uint _seq;
    private bool _started, _joined, _leaving;
    private int _viewVersion;
    private int _touched; // keeps the touches in ApplyRumours from being optimised away

    public SwimNode(MeshConfig config, MemberMeta self, MemberDirectory directory, ulong seed)
    {
        config.Validate();
        _config = config;
        _directory = directory;
        _random = new DeterministicRandom(seed);
        _awareness = new Awareness(config.Lifeguard ? config.AwarenessMaxMultiplier : 1);
        _suspicions = new SuspicionSet(Math.Max(0, config.SuspicionMult - 2));
        _broadcasts = new BroadcastQueue(directory, config.MaxQueuedAliveRumours);
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

    /// <summary>Alive rumours dropped unsent because the queue held <see cref="MeshConfig.MaxQueuedAliveRumours"/> of them.</summary>
    public long DroppedRumours => _broadcasts.Dropped;

    /// <summary>When the host must call <see cref="Tick"/> next (long.MaxValue when nothing is scheduled).</summary>
    public long NextDue => Math.Min(_timers.NextDue, _suspicions.NextDue);

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
        Schedule(now + _random.NextInt64(_probeInterval), SwimTimerKind.Probe);
        Schedule(now + _random.NextInt64(_gossipInterval), SwimTimerKind.Gossip);
        SchedulePushPull(now + PushPullPeriod() / 2 + _random.NextInt64(Math.Max(1, PushPullPeriod() / 2)));
        Schedule(now + _reconnectInterval / 2 + _random.NextInt64(Math.Max(1, _reconnectInterval / 2)), SwimTimerKind.Reconnect);
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
        Schedule(now + _random.NextInt64(_probeInterval), SwimTimerKind.Probe);
        Schedule(now + _random.NextInt64(_gossipInterval), SwimTimerKind.Gossip);
        SchedulePushPull(now + _random.NextInt64(Math.Max(1, PushPullPeriod())));
        Schedule(now + _random.NextInt64(Math.Max(1, _reconnectInterval)), SwimTimerKind.Reconnect);
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
        if (message.Updates is RumourList rumours && ReferenceEquals(rumours.Directory, _directory)) ApplyRumours(now, rumours.Items);
        else ApplyUpdates(now, message.Updates);
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
            long timerDue = _timers.Peek(out SwimTimer timer);
            if (timerDue > now || timerDue > _suspicions.NextDue)
            {
                // Suspicions due no later than the next timer expire first (a timer wins a tie).
                if (!ExpireSuspicion(now, Math.Min(now, timerDue - 1))) break;
                continue;
            }
            _timers.Dequeue();
            OnTimer(now, timer);
        }
    }

    private void OnTimer(long now, SwimTimer timer)
    {
        switch (timer.Kind)
        {
            case SwimTimerKind.Probe: OnProbeTimer(now); break;
            case SwimTimerKind.IndirectProbe: OnIndirectProbeTimer(now, (uint)timer.Arg); break;
            case SwimTimerKind.Gossip: OnGossipTimer(now); break;
            case SwimTimerKind.PushPull: OnPushPullTimer(now, timer.Arg); break;
            case SwimTimerKind.JoinRetry: OnJoinRetry(now); break;
            case SwimTimerKind.Reconnect: OnReconnectTimer(now); break;
            case SwimTimerKind.RelayNack: OnRelayTimer((uint)timer.Arg); break;
        }
    }

    private void SetEntry(int member, MemberEntry entry)
    {
        _table.Set(member, entry);
        _viewVersion++;
    }

    private bool GossipsSuspicions => _config.GossipsSuspicions(_table.LiveCount);

    private void Schedule(long due, SwimTimerKind kind, int arg = 0) => _timers.Schedule(due, new SwimTimer(kind, arg));
}
