using BlobCache.Mesh;
using BlobCache.Mesh.Membership;
using BlobCache.Protocol.Gossip;

namespace BlobCache.Sim.Engine;

/// <summary>
/// A whole mesh in one process: real <see cref="SwimNode"/>s exchanging real encoded packets over a simulated
/// network in virtual time. One seed drives everything (per-node generators are derived from it), events are
/// ordered by (time, sequence), and nothing reads a clock, so the same seed and script give the same run.
/// </summary>
public sealed class SimCluster
{
    private readonly PriorityQueue<SimEvent, (long Time, long Seq)> _queue = new();
    // Messages in flight, by slot: events hold a slot number, so the event queue holds no references and moving
    // its entries costs the garbage collector nothing.
    private Payload[] _payloads = new Payload[64];
    private readonly Stack<int> _freePayloads = new();
    private int _payloadHighWater;
    private readonly List<SimNode> _nodes = [];
    private readonly Dictionary<string, int> _byAddress = new(StringComparer.Ordinal);
    private readonly DeterministicRandom _random;
    private readonly ulong _seed;
    private MemberBase? _sharedBase;
    private long _seq;

    public SimCluster(ulong seed, MeshConfig? config = null, NetworkModel? network = null)
    {
        _seed = seed;
        _random = new DeterministicRandom(DeterministicRandom.Derive(seed, ulong.MaxValue));
        Config = config ?? MeshConfig.Default;
        Network = network ?? new NetworkModel();
    }

    public MeshConfig Config { get; }
    public NetworkModel Network { get; }
    /// <summary>Shared by every node, so equal views use equal member indexes.</summary>
    public MemberDirectory Directory { get; } = new();
    public long Now { get; private set; }
    public TraceDigest Digest { get; } = new();
    public IReadOnlyList<SimNode> Nodes => _nodes;
    /// <summary>Every membership event, in order, when <see cref="KeepEventLog"/> is on.</summary>
    public List<(int Node, MemberEvent Event)> EventLog { get; } = [];
    public bool KeepEventLog { get; set; } = true;
    /// <summary>Encode and decode every packet with the real codec (default). Off: pass message objects, count measured sizes.</summary>
    public bool WireEncoding { get; set; } = true;
    public long MessagesDelivered { get; private set; }
    public long MessagesDropped { get; private set; }
    public long PacketsRejected { get; private set; }
    /// <summary>Messages refused as a node's socket would refuse them: above the datagram budget and not state (see <see cref="GossipChannels"/>).</summary>
    public long OversizeRefused { get; private set; }
    /// <summary>State transfers sent by stream, and their bytes (frames as the node writes them, length prefix included).</summary>
    public long StreamTransfers { get; private set; }
    public long StreamBytes { get; private set; }
    /// <summary>The largest datagram sent, in bytes.</summary>
    public int LargestDatagram { get; private set; }
    /// <summary>The largest state transfer sent, in bytes.</summary>
    public long LargestStream { get; private set; }
    /// <summary>Called with each message as it is handed to a node (after decoding), for tests and traces.</summary>
    public Action<int, GossipMessage>? OnDeliver { get; set; }
    /// <summary>Called for each membership event as it happens.</summary>
    public Action<int, MemberEvent>? OnEvent { get; set; }

    public static string AddressOf(int node) => $"10.{node >> 16 & 255}.{node >> 8 & 255}.{node & 255}:7946";

    /// <summary>Adds a node and starts it at the current time, joining through <paramref name="seeds"/> (sim node numbers).</summary>
    public int AddNode(int region = 0, int zone = 0, IEnumerable<int>? seeds = null, ushort weight = 100, string? id = null)
    {
        SimNode node = CreateNode(region, zone, weight, id);
        node.Swim.Start(Now, (seeds ?? []).Select(AddressOf).ToArray());
        AfterCall(node);
        return node.Index;
    }

    /// <summary>
    /// Adds <paramref name="count"/> nodes that start as an already converged mesh (every view lists every node as
    /// alive), spread round-robin over regions and zones. The views are forks of one table, so they share memory.
    /// </summary>
    public void Bootstrap(int count, int regions = 1, int zonesPerRegion = 3, ushort weight = 100)
    {
        if (count < 1 || regions < 1 || zonesPerRegion < 1) throw new ArgumentOutOfRangeException(nameof(count), "count, regions and zones must be positive");
        if (_nodes.Count > 0) throw new InvalidOperationException("Bootstrap starts a new cluster; add later nodes with AddNode");
        var view = new MemberTable { CompactThreshold = int.MaxValue };
        for (int i = 0; i < count; i++)
        {
            int region = i % regions;
            SimNode node = CreateNode(region, i / regions % zonesPerRegion, weight, null);
            view.Set(node.Swim.Self, new MemberEntry { Incarnation = 0, Meta = Directory.Intern(node.Swim.Meta), State = BlobCache.Protocol.Gossip.MemberState.Alive });
        }
        view.Compact();
        _sharedBase = view.Base;
        foreach (SimNode node in _nodes)
        {
            node.Swim.StartConverged(Now, view);
            AfterCall(node);
        }
    }

    /// <summary>
    /// Moves every running view onto a fresh shared base that says, for each member, what most of a sample of
    /// running views say, so each view holds only where it differs from the majority (in a wave of crashes, one
    /// reference node's view would leave everyone who is a step ahead of or behind it holding a difference per
    /// crashed member). A member that some of the sample know and most do not yet is in the base all the same: a
    /// view that has not heard of a member the base holds costs a bit, one that knows a member the base lacks a map
    /// entry (in a fleet start most views lag behind the newest joiners). A joiner's own view moves too, so what it
    /// pulls lands on the shared base instead of a private copy. Changes no view; call it now and then in big runs
    /// to bound memory.
    /// </summary>
    public void RebaseViews(int sampleSize = 33)
    {
        var running = _nodes.Where(n => n.IsRunning).ToList();
        if (running.Count == 0) return;
        // Evenly spaced, so the sample is deterministic and spread over the cluster.
        int take = Math.Min(sampleSize, running.Count);
        var sample = new MemberTable[take];
        for (int i = 0; i < take; i++) sample[i] = running[(int)((long)i * running.Count / take)].Swim.View;
        MemberBase next = MajorityBase(sample);
        MemberBase current = _sharedBase ?? MemberBase.Empty;
        if (_sharedBase is not null && MemberBase.Differences(current, next).Count == 0) next = current;
        var changedFrom = new Dictionary<MemberBase, int[]>(ReferenceEqualityComparer.Instance);
        foreach (SimNode n in running)
        {
            MemberTable view = n.Swim.View;
            if (ReferenceEquals(view.Base, next)) continue;
            if (!changedFrom.TryGetValue(view.Base, out int[]? changed))
                changedFrom[view.Base] = changed = MemberBase.Differences(view.Base, next).ToArray();
            n.Swim.RebaseView(next, changed);
        }
        _sharedBase = next;
    }

    /// <summary>For each member, the entry most of <paramref name="sample"/> hold, of those that know it if any do.</summary>
    private MemberBase MajorityBase(MemberTable[] sample)
    {
        int size = Directory.Count;
        var entries = new MemberEntry[size];
        var votes = new List<(MemberEntry Entry, int Count)>(4);
        for (int m = 0; m < size; m++)
        {
            votes.Clear();
            foreach (MemberTable view in sample)
            {
                MemberEntry e = view[m];
                int at = -1;
                for (int v = 0; v < votes.Count && at < 0; v++)
                    if (votes[v].Entry == e) at = v;
                if (at < 0) votes.Add((e, 1));
                else votes[at] = (e, votes[at].Count + 1);
            }
            (MemberEntry best, int bestCount) = votes[0];
            foreach ((MemberEntry e, int count) in votes)
            {
                if (e == default || (count <= bestCount && best != default)) continue;
                best = e;
                bestCount = count;
            }
            entries[m] = best;
        }
        return new MemberBase(entries);
    }

    /// <summary>
    /// Sum over running nodes of the entries each holds privately: its differences from its base in its map, and the
    /// whole base when it is a base of its own. The memory the shared base does not cover and a rebase can win back
    /// (members a view has not heard of are a bit each, at most an eighth of a byte per member).
    /// </summary>
    public long ViewDifferences
    {
        get
        {
            long sum = 0;
            MemberBase? shared = _sharedBase;
            foreach (SimNode n in _nodes)
            {
                if (!n.IsRunning) continue;
                MemberTable view = n.Swim.View;
                sum += view.DifferenceCount - view.UnheardCount;
                if (!ReferenceEquals(view.Base, shared) && !ReferenceEquals(view.Base, MemberBase.Empty)) sum += view.Base.Length;
            }
            return sum;
        }
    }

    private SimNode CreateNode(int region, int zone, ushort weight, string? id)
    {
        int index = _nodes.Count;
        string address = AddressOf(index);
        var meta = new MemberMeta(id ?? $"node-{index}", address, "", "", $"region-{region}", $"zone-{region}-{zone}", weight, 1);
        var swim = new SwimNode(Config, meta, Directory, DeterministicRandom.Derive(_seed, (ulong)index));
        var node = new SimNode(index, new SimNodeInfo(region, zone), swim);
        _nodes.Add(node);
        _byAddress[address] = index;
        Network.EnsureNodes(index + 1);
        return node;
    }

    /// <summary>Stops a node at once, silently (kill -9).</summary>
    public void Crash(int node)
    {
        _nodes[node].Crashed = true;
        _nodes[node].DownSince = Now;
    }

    /// <summary>Starts a graceful leave; the node keeps running until its leave rumour went out, then stops.</summary>
    public void Leave(int node)
    {
        SimNode n = _nodes[node];
        n.Swim.Leave(Now);
        AfterCall(n);
    }

    /// <summary>Freezes a node (a CPU stall): it handles nothing until <paramref name="until"/>, then catches up.</summary>
    public void Stall(int node, long until) => _nodes[node].StalledUntil = Math.Max(_nodes[node].StalledUntil, until);

    /// <summary>Hands a raw datagram to a node as if it came off the network; returns whether the codec accepted it.</summary>
    public bool InjectPacket(int node, ReadOnlyMemory<byte> packet)
    {
        if (!GossipCodec.TryDecode(packet, WireLimits.Default, out GossipMessage? message, out _))
        {
            PacketsRejected++;
            return false;
        }
        SimNode n = _nodes[node];
        n.Swim.Receive(Now, message);
        AfterCall(n);
        return true;
    }

    /// <summary>Runs events until virtual time <paramref name="until"/>.</summary>
    public void RunUntil(long until)
    {
        while (_queue.TryPeek(out _, out var p) && p.Time <= until)
        {
            SimEvent e = _queue.Dequeue();
            Now = p.Time;
            Dispatch(e);
        }
        Now = Math.Max(Now, until);
    }

    public void RunFor(TimeSpan duration) => RunUntil(Now + Micros.From(duration));

    /// <summary>Runs until <paramref name="condition"/> holds (checked every <paramref name="checkEvery"/>) or <paramref name="limit"/> passes; returns whether it held.</summary>
    public bool RunUntil(Func<bool> condition, TimeSpan limit, TimeSpan? checkEvery = null)
    {
        long deadline = Now + Micros.From(limit);
        long step = Micros.From(checkEvery ?? TimeSpan.FromMilliseconds(100));
        while (!condition())
        {
            if (Now >= deadline) return false;
            RunUntil(Math.Min(deadline, Now + step));
        }
        return true;
    }

    /// <summary>Nodes that are running (not crashed, not gone after leaving).</summary>
    public IEnumerable<SimNode> Running => _nodes.Where(n => n.IsRunning);

    /// <summary>True when every running node sees exactly the running nodes as alive and everyone else as dead or left.</summary>
    public bool IsConverged()
    {
        var running = _nodes.Where(n => n.IsRunning).ToList();
        foreach (SimNode viewer in running)
        {
            MemberTable view = viewer.Swim.View;
            if (view.AliveCount != running.Count || view.SuspectCount != 0) return false;
            foreach (SimNode other in running)
                if (view.StateOf(other.Swim.Self) != MemberState.Alive) return false;
        }
        return true;
    }

    /// <summary>True when no running node lists <paramref name="node"/> as alive or suspect (nodes that joined after it went down may never have heard of it).</summary>
    public bool EveryoneSeesDown(int node)
    {
        int member = _nodes[node].Swim.Self;
        return _nodes.Where(n => n.IsRunning).All(n => !n.Swim.View[member].IsLive);
    }

    private void Dispatch(SimEvent e)
    {
        SimNode node = _nodes[e.Node];
        if (node.Crashed)
        {
            if (e.Kind == SimEventKind.Deliver)
            {
                _payloads[e.Payload] = default;
                _freePayloads.Push(e.Payload);
            }
            return;
        }
        if (node.StalledUntil > Now)
        {
            // A stalled process handles nothing; the work waits for the stall to end, in arrival order.
            Enqueue(node.StalledUntil, e);
            return;
        }
        switch (e.Kind)
        {
            case SimEventKind.Wake:
                if (e.Time != node.ScheduledWake) return; // superseded by an earlier wake
                node.ScheduledWake = long.MaxValue;
                node.Swim.Tick(Now);
                break;
            case SimEventKind.Deliver:
                (GossipMessage? message, ReadOnlyMemory<byte> packet, bool stream) = _payloads[e.Payload];
                _payloads[e.Payload] = default;
                _freePayloads.Push(e.Payload);
                if (message is null)
                {
                    if (!(stream
                        ? GossipCodec.TryDecodeStream(packet, WireLimits.Default, out message, out _)
                        : GossipCodec.TryDecode(packet, WireLimits.Default, out message, out _)))
                    {
                        PacketsRejected++;
                        return;
                    }
                }
                node.MessagesReceived++;
                OnDeliver?.Invoke(node.Index, message);
                node.Swim.Receive(Now, message);
                break;
        }
        AfterCall(node);
    }

    /// <summary>After any call into a node: send its outbox, log its events, and make sure it wakes when its next timer is due.</summary>
    private void AfterCall(SimNode node)
    {
        SwimNode swim = node.Swim;
        foreach (Outbound o in swim.Outbox) Transmit(node, o);
        swim.Outbox.Clear();
        foreach (MemberEvent ev in swim.Events)
        {
            Digest.Add(ev.At);
            Digest.Add(node.Index);
            Digest.Add((long)ev.Kind << 32 | (uint)ev.Member);
            Digest.Add(ev.Incarnation);
            if (KeepEventLog) EventLog.Add((node.Index, ev));
            OnEvent?.Invoke(node.Index, ev);
        }
        swim.Events.Clear();
        // A pulled view is an event per member: a list kept at that capacity is O(N) per node, O(N²) in all.
        if (swim.Events.Capacity > KeptEventCapacity) swim.Events.Capacity = KeptEventCapacity;
        if (swim.Leaving && swim.LeaveSent && !node.Gone)
        {
            node.Gone = true;
            node.DownSince = Now;
            return;
        }
        long due = swim.NextDue;
        if (due < node.ScheduledWake)
        {
            node.ScheduledWake = due;
            Enqueue(Math.Max(due, Now), new SimEvent(SimEventKind.Wake, node.Index, due, -1));
        }
    }

    /// <summary>
    /// Sends what the node's host would send, by the channel the mesh chose: a datagram within the budget (lost with
    /// the network's loss), a state transfer by stream (never lost, but a handshake, the sender's and the receiver's
    /// bandwidth and a latency late), or nothing for an oversize message, as the node's socket refuses it.
    /// </summary>
    private void Transmit(SimNode from, Outbound o)
    {
        if (o.Channel == GossipChannel.Oversize)
        {
            OversizeRefused++;
            return;
        }
        if (o.Channel == GossipChannel.Stream)
        {
            TransmitStream(from, o);
            return;
        }
        int to = _byAddress.TryGetValue(o.ToAddress, out int a) ? a : -1;
        int size = o.Bytes;
        ReadOnlyMemory<byte> packet = default;
        GossipMessage? message = null;
        if (WireEncoding)
        {
            byte[] bytes = GossipCodec.Encode(o.Message);
            if (bytes.Length != size) throw new InvalidOperationException($"the mesh sized a {o.Message.Kind} at {size} bytes, the codec wrote {bytes.Length}");
            packet = bytes;
        }
        else message = o.Message;
        from.MessagesSent++;
        from.BytesSent += size;
        LargestDatagram = Math.Max(LargestDatagram, size);
        if (to < 0 || !Network.CanReach(from.Index, to) || (Network.Loss > 0 && _random.NextDouble() < Network.Loss))
        {
            MessagesDropped++;
            return;
        }
        SimNode target = _nodes[to];
        long latency = Network.Latency(from.Info, target.Info, _random);
        Deliver(to, Now + latency, new Payload(message, packet, Stream: false));
    }

    private void TransmitStream(SimNode from, Outbound o)
    {
        int to = _byAddress.TryGetValue(o.ToAddress, out int a) ? a : -1;
        // Always the real frame, so its size is exact; decoded on arrival only when every packet is.
        byte[] frame = GossipCodec.EncodeStream(o.Message);
        long size = frame.Length + StreamFrameOverheadBytes;
        from.MessagesSent++;
        from.BytesSent += size;
        from.StreamsSent++;
        from.StreamBytesSent += size;
        StreamTransfers++;
        StreamBytes += size;
        LargestStream = Math.Max(LargestStream, size);
        if (to < 0 || !Network.CanReach(from.Index, to))
        {
            MessagesDropped++; // the connection is refused or times out
            return;
        }
        SimNode target = _nodes[to];
        long latency = Network.Latency(from.Info, target.Info, _random);
        long transmit = Network.StreamMicros(size);
        // Connect (a round trip), then the bytes leave when the sender's link is free and arrive as fast as the
        // receiver's link takes them, a latency later.
        long sent = Math.Max(Now + 2 * latency, from.StreamEgressFree) + transmit;
        from.StreamEgressFree = sent;
        long taken = Math.Max(sent, target.StreamIngressFree + transmit);
        target.StreamIngressFree = taken;
        target.StreamsReceived++;
        target.StreamBytesReceived += size;
        Deliver(to, taken + latency, new Payload(WireEncoding ? null : o.Message, WireEncoding ? frame : default, Stream: true));
    }

    /// <summary>What the node's stream adds to a frame: its 4-byte length prefix.</summary>
    public const int StreamFrameOverheadBytes = 4;

    private const int KeptEventCapacity = 64;

    private void Deliver(int to, long at, Payload payload)
    {
        MessagesDelivered++;
        int slot;
        if (_freePayloads.Count > 0) slot = _freePayloads.Pop();
        else
        {
            if (_payloadHighWater == _payloads.Length) Array.Resize(ref _payloads, _payloads.Length * 2);
            slot = _payloadHighWater++;
        }
        _payloads[slot] = payload;
        Enqueue(at, new SimEvent(SimEventKind.Deliver, to, at, slot));
    }

    private void Enqueue(long time, SimEvent e) => _queue.Enqueue(e, (time, ++_seq));
}

public enum SimEventKind : byte { Wake, Deliver }

/// <summary>A wake-up or a delivery; a delivery names the slot that holds its message.</summary>
public readonly record struct SimEvent(SimEventKind Kind, int Node, long Time, int Payload);

internal readonly record struct Payload(GossipMessage? Message, ReadOnlyMemory<byte> Packet, bool Stream);

/// <summary>One simulated process: a real <see cref="SwimNode"/> plus what the simulator knows about it.</summary>
public sealed class SimNode(int index, SimNodeInfo info, SwimNode swim)
{
    public int Index { get; } = index;
    public SimNodeInfo Info { get; } = info;
    public SwimNode Swim { get; } = swim;
    public bool Crashed { get; set; }
    /// <summary>Left gracefully and stopped.</summary>
    public bool Gone { get; set; }
    public long DownSince { get; set; } = -1;
    public long StalledUntil { get; set; }
    public long ScheduledWake { get; set; } = long.MaxValue;
    public long MessagesSent { get; set; }
    public long MessagesReceived { get; set; }
    public long BytesSent { get; set; }
    public long StreamsSent { get; set; }
    public long StreamBytesSent { get; set; }
    public long StreamsReceived { get; set; }
    public long StreamBytesReceived { get; set; }
    /// <summary>When this node's link is free to send, and to receive, the next stream's bytes.</summary>
    public long StreamEgressFree { get; set; }
    public long StreamIngressFree { get; set; }
    public bool IsRunning => !Crashed && !Gone;
}
