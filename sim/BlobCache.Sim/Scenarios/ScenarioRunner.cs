using System.Diagnostics;
using BlobCache.Mesh;
using BlobCache.Mesh.Membership;
using BlobCache.Mesh.Placement;
using BlobCache.Protocol.Gossip;
using BlobCache.Sim.Engine;

namespace BlobCache.Sim.Scenarios;

/// <summary>
/// Runs one scenario on a <see cref="SimCluster"/>: starts the nodes, applies each step at its virtual time, runs
/// the data workload if there is one, and measures what the mesh did. Cheap bookkeeping only (counts fed by
/// membership events), so it scales with the cluster.
/// </summary>
public sealed class ScenarioRunner
{
    private readonly Scenario _scenario;
    private readonly ulong _seed;
    private readonly TextWriter? _progress;
    private readonly SimCluster _cluster;
    private readonly DeterministicRandom _random;
    private readonly Dictionary<int, (long At, int Node)> _downAt = []; // member → when its process crashed, and which one
    private readonly HashSet<int> _restarted = [];
    private readonly Dictionary<int, long> _lastDeadSeen = [];
    private readonly DelayHistogram _memberDetection = new(); // each live member's first death event for each crash
    private readonly HashSet<int> _falselyDeclared = [];
    private readonly List<int> _stalling = [];
    private readonly HashSet<int> _stallingMembers = [];
    private readonly List<TimePoint> _timeline = [];
    private readonly FleetStart? _fleet;
    private long _falseDeathEvents, _partitionDeathEvents;
    private bool _partitioned, _healing;
    private double _convergedAt = -1;
    private double _lastDisturbance = -1, _reconvergedAfter = -1;

    public ScenarioRunner(Scenario scenario, ulong seed, TextWriter? progress = null)
    {
        _scenario = scenario;
        _seed = seed;
        _progress = progress;
        MeshConfig config = MeshConfig.Default with { Lifeguard = scenario.Lifeguard, Suspicions = Enum.Parse<SuspicionSpread>(scenario.Suspicions, ignoreCase: true) };
        _cluster = new SimCluster(seed, config)
        {
            KeepEventLog = false,
            // Encoding every packet costs more than the rest of a big run; small runs check the real bytes.
            WireEncoding = scenario.Nodes <= 2_000,
        };
        _random = new DeterministicRandom(DeterministicRandom.Derive(seed, 0x5CE4A210));
        _cluster.OnEvent = OnEvent;
        if (scenario.Bootstrap == "fleet") _fleet = new FleetStart(scenario, _cluster);
    }

    public SimCluster Cluster => _cluster;

    /// <summary>Runs of more nodes than this move their views onto a shared base now and then (memory only: no view changes).</summary>
    public int RebaseFromNodes { get; init; } = 5_000;

    private static readonly long RebaseCheck = 100 * Micros.PerMillisecond;

    public SimReport Run()
    {
        var wall = Stopwatch.StartNew();
        long end = Micros.From(TimeSpan.FromSeconds(_scenario.Duration));
        StartNodes();
        (PlacementMap startPlacement, HashSet<int> startMembers) = ReferencePlacement();
        DataSimulation? data = _scenario.Workload is { } w ? new DataSimulation(w, _cluster, _scenario.Regions, _seed) : null;

        var steps = _scenario.Steps.OrderBy(s => s.At).ToList();
        int nextStep = 0;
        long lastPrint = 0;
        for (long second = 0; _cluster.Now < end; second++)
        {
            long target = Math.Min(end, (second + 1) * Micros.PerSecond);
            while (nextStep < steps.Count && Micros.From(TimeSpan.FromSeconds(steps[nextStep].At)) <= _cluster.Now)
                Apply(steps[nextStep++]);
            ContinueSteps(steps);
            bool big = Math.Max(_cluster.Nodes.Count, _scenario.Nodes) > RebaseFromNodes;
            if (data is not null) data.RunUntil(target);
            else if (big)
            {
                // Big runs: move the views onto a fresh shared base whenever their private entries pile up (a wave
                // of crashes gives every view a difference per crashed member within a second; in a fleet start
                // every joiner pulls a whole view of its own).
                for (long step = _cluster.Now + RebaseCheck; step < target; step += RebaseCheck)
                {
                    RunMembershipUntil(step);
                    if (_cluster.ViewDifferences > 4L * _cluster.Nodes.Count) _cluster.RebaseViews();
                }
                RunMembershipUntil(target);
            }
            else RunMembershipUntil(target);
            if (big && second % 2 == 1) _cluster.RebaseViews();
            Sample();
            if (_progress is not null && wall.ElapsedMilliseconds - lastPrint > 2_000)
            {
                lastPrint = wall.ElapsedMilliseconds;
                _progress.WriteLine($"  t={Micros.ToSeconds(_cluster.Now),6:F0}/{_scenario.Duration:F0}s  running {RunningCount()}  exact views {_timeline[^1].ExactViews:P0}  wall {wall.Elapsed.TotalSeconds:F0}s  rss {Environment.WorkingSet >> 20} MiB  heap {GC.GetTotalMemory(false) >> 20} MiB" +
                    (data is null ? "" : $"  reads done {data.ReadsDone}/{data.ReadsTotal}") + StateLine());
            }
        }
        if (data is not null)
        {
            DataReport d = data.Report();
            foreach (long v in new[] { d.ReadsDone, d.BlobGets, d.BusyAnswers, d.Handoffs, d.ServedByHolders, d.OwnerTimeouts, d.OwnerRetries, d.Evictions, (long)(d.CompletionSeconds * Micros.PerSecond), d.BytesPeer, d.BytesBlob })
                _cluster.Digest.Add(v);
            OriginReport o = data.OriginReport();
            foreach (long v in new[] { d.ReadsFailed, o.RequestsTotal, o.ThrottledTotal, o.PeakRequestsPerSecond, (long)(d.TimeToAllBytes.Max * Micros.PerSecond), d.MetadataPeerRequests, d.MetadataTimeouts, d.MetadataMaxRequestsPerSecondAtOneNode, (long)(d.MetadataMaxAgeSeconds * Micros.PerSecond) })
                _cluster.Digest.Add(v);
        }
        return BuildReport(wall.Elapsed.TotalSeconds, data, startPlacement, startMembers);
    }

    /// <summary>Runs the membership (starting the fleet's nodes on the way, in a fleet start) up to <paramref name="until"/>.</summary>
    private void RunMembershipUntil(long until)
    {
        if (_fleet is not null) _fleet.RunUntil(until);
        else _cluster.RunUntil(until);
    }

    /// <summary>Where the nodes' per-member memory is, per running node (KiB), when there is much of it.</summary>
    private string StateLine()
    {
        StateBytes sum = default;
        int running = 0;
        foreach (SimNode n in _cluster.Nodes)
        {
            if (!n.IsRunning) continue;
            sum += n.Swim.StateBytes;
            running++;
        }
        if (running == 0 || sum.Total < 1024L * running) return "";
        double k = 1024.0 * running;
        return $"  per node KiB: queue {sum.Queue / k:F1} suspicions {sum.Suspicions / k:F1} confirmers {sum.Confirmers / k:F1} map {sum.SuspicionMap / k:F1} heap {sum.SuspicionHeap / k:F1} view {sum.ViewDifferences / k:F1}";
    }

    /// <summary>Placement as one running node sees it, and the members it places.</summary>
    private (PlacementMap Map, HashSet<int> Members) ReferencePlacement()
    {
        SimNode? reference = _cluster.Nodes.FirstOrDefault(n => n.IsRunning);
        if (reference is null) return (PlacementMap.Empty, []);
        var members = new HashSet<int>();
        for (int i = 0; i < _cluster.Directory.Count; i++)
            if (reference.Swim.View[i].IsLive) members.Add(i);
        return (ViewPlacement.Build(reference.Swim.View, _cluster.Directory), members);
    }

    /// <summary>Keys per member at the end (÷ the region's mean), and the share of keys whose owner changed since the start.</summary>
    private (List<double> Load, double Moved, double MembersChanged, int KeysPerNode) PlacementStats(PlacementMap start, HashSet<int> startMembers)
    {
        (PlacementMap end, HashSet<int> endMembers) = ReferencePlacement();
        int keys = (int)Math.Min(1_000_000, 200L * _scenario.Nodes);
        long moved = 0, total = 0;
        var load = new List<double>();
        foreach (string region in end.Regions.Order(StringComparer.Ordinal))
        {
            RegionPlacement before = start.ForRegion(region), after = end.ForRegion(region);
            var counts = new Dictionary<int, int>();
            for (int k = 0; k < keys; k++)
            {
                ulong key = BlobCache.Mesh.Placement.StableHash.Mix(0x10AD, (ulong)k);
                int owner = after.Owner(key);
                counts[owner] = counts.GetValueOrDefault(owner) + 1;
                if (before.Owner(key) != owner) moved++;
                total++;
            }
            double mean = keys / (double)Math.Max(1, after.Count);
            foreach (int member in counts.Keys.Order()) load.Add(counts[member] / mean);
        }
        int changed = startMembers.Count(m => !endMembers.Contains(m)) + endMembers.Count(m => !startMembers.Contains(m));
        int perNode = keys / Math.Max(1, _scenario.Nodes / Math.Max(1, _scenario.Regions));
        return (load, total == 0 ? 0 : moved / (double)total, startMembers.Count == 0 ? 0 : changed / (double)startMembers.Count, perNode);
    }

    private void StartNodes()
    {
        if (_scenario.Bootstrap == "converged")
        {
            _cluster.Bootstrap(_scenario.Nodes, _scenario.Regions, _scenario.ZonesPerRegion);
            _convergedAt = 0;
            return;
        }
        if (_fleet is not null)
        {
            _fleet.StartSeeds();
            return;
        }
        _cluster.AddNode();
        for (int i = 1; i < _scenario.Nodes; i++)
        {
            _cluster.AddNode(i % _scenario.Regions, i / _scenario.Regions % _scenario.ZonesPerRegion, [0]);
            _cluster.RunFor(TimeSpan.FromMilliseconds(2));
        }
    }

    private void Apply(ScenarioStep step)
    {
        Disturbed();
        switch (step.Action)
        {
            case "crash":
                foreach (int n in PickRunning(step)) Crash(n);
                break;
            case "leave":
                foreach (int n in PickRunning(step)) _cluster.Leave(n);
                break;
            case "join":
                for (int joins = NodesNamedBy(step), i = 0; i < joins; i++) Join();
                break;
            case "partition":
                _cluster.Network.Partition(_cluster.Nodes.Where(n => n.Info.Region == step.Region).Select(n => n.Index));
                _partitioned = true;
                break;
            case "heal":
                _cluster.Network.Heal();
                _healing = true; // deaths count as partition-caused until the views agree again
                break;
            case "loss":
                _cluster.Network.Loss = step.Value;
                break;
            case "stall":
                foreach (int n in PickRunning(step))
                {
                    _stalling.Add(n);
                    _stallingMembers.Add(_cluster.Nodes[n].Swim.Self);
                }
                break;
            case "churn":
            case "restart":
                break; // per-second, in ContinueSteps
        }
    }

    /// <summary>Steps that act every second (or every period) while they last.</summary>
    private void ContinueSteps(List<ScenarioStep> steps)
    {
        double now = Micros.ToSeconds(_cluster.Now);
        foreach (ScenarioStep step in steps)
        {
            if (now < step.At || now >= step.Until) continue;
            switch (step.Action)
            {
                case "stall":
                    // A stall of `stall` seconds at the start of every `period`.
                    if (PeriodBeganThisSecond(step, now))
                        foreach (int n in _stalling)
                            if (_cluster.Nodes[n].IsRunning) _cluster.Stall(n, _cluster.Now + Micros.From(TimeSpan.FromSeconds(step.Stall)));
                    break;
                case "churn":
                    int count = Math.Max(1, NodesNamedBy(step));
                    foreach (int n in PickRunning(new ScenarioStep { Action = "crash", Count = count })) Crash(n);
                    for (int i = 0; i < count; i++) Join();
                    break;
                case "restart":
                    // Rolling restart: a batch every period; each restarted node comes back as a new process with its old id.
                    if (PeriodBeganThisSecond(step, now))
                    {
                        foreach (int n in PickRunning(step))
                        {
                            string id = _cluster.Nodes[n].Swim.Id;
                            var info = _cluster.Nodes[n].Info;
                            Crash(n);
                            _downAt.Remove(_cluster.Nodes[n].Swim.Self); // it comes back: not a crash to detect
                            _restarted.Add(_cluster.Nodes[n].Swim.Self);
                            _cluster.AddNode(info.Region, info.Zone, [RandomRunning()], id: id);
                        }
                    }
                    break;
            }
        }
    }

    private void Disturbed()
    {
        _lastDisturbance = Micros.ToSeconds(_cluster.Now);
        _reconvergedAfter = -1;
    }

    /// <summary>True once per period of a continuing step: when a new period started within the last virtual second.</summary>
    private static bool PeriodBeganThisSecond(ScenarioStep step, double now) =>
        Math.Floor((now - step.At) / step.Period) != Math.Floor((now - step.At - 1) / step.Period);

    /// <summary>How many nodes a step names: its count, else its fraction of the scenario's nodes.</summary>
    private int NodesNamedBy(ScenarioStep step) => step.Count > 0 ? step.Count : (int)Math.Round(step.Fraction * _scenario.Nodes);

    private void Crash(int node)
    {
        Disturbed();
        _cluster.Crash(node);
        _downAt[_cluster.Nodes[node].Swim.Self] = (_cluster.Now, node);
    }

    private void Join()
    {
        int region = _random.Next(_scenario.Regions);
        _cluster.AddNode(region, _random.Next(_scenario.ZonesPerRegion), [RandomRunning()]);
    }

    private int RandomRunning()
    {
        for (int tries = 0; tries < 1000; tries++)
        {
            int n = _random.Next(_cluster.Nodes.Count);
            if (_cluster.Nodes[n].IsRunning) return n;
        }
        return _cluster.Nodes.First(n => n.IsRunning).Index;
    }

    private List<int> PickRunning(ScenarioStep step)
    {
        int want = Math.Min(NodesNamedBy(step), RunningCount() - 1); // never stop the whole mesh
        var picked = new List<int>(Math.Max(want, 0));
        var seen = new HashSet<int>();
        for (int tries = 0; picked.Count < want && tries < want * 20 + 100; tries++)
        {
            int n = _random.Next(_cluster.Nodes.Count);
            if (_cluster.Nodes[n].IsRunning && seen.Add(n)) picked.Add(n);
        }
        return picked;
    }

    private int RunningCount() => _cluster.Nodes.Count(n => n.IsRunning);

    private void OnEvent(int node, MemberEvent e)
    {
        if (e.Kind != MemberEventKind.Dead) return;
        if (_downAt.TryGetValue(e.Member, out (long At, int Node) down))
        {
            _lastDeadSeen[e.Member] = e.At;
            _memberDetection.Add(e.At - down.At);
            return;
        }
        if (_restarted.Contains(e.Member)) return; // the old process of a restarted member: a true death
        if (_partitioned) _partitionDeathEvents++;
        else
        {
            _falseDeathEvents++;
            _falselyDeclared.Add(e.Member);
        }
    }

    /// <summary>Once a second: how many running nodes hold an exact view (counts only, so O(N)).</summary>
    private void Sample()
    {
        int running = 0, exact = 0;
        long msgs = 0;
        int down = _cluster.Nodes.Count(n => !n.IsRunning);
        foreach (SimNode n in _cluster.Nodes)
        {
            if (!n.IsRunning) continue;
            running++;
            msgs += n.MessagesSent;
            MemberTable v = n.Swim.View;
            if (v.SuspectCount == 0 && v.AliveCount == _cluster.Nodes.Count - down) exact++;
        }
        double t = Micros.ToSeconds(_cluster.Now);
        _fleet?.Sample(t, _cluster.Nodes.Count - down);
        // The digest covers traffic as well as membership events, so runs without events still differ by seed.
        _cluster.Digest.Add(msgs);
        _cluster.Digest.Add(exact);
        _timeline.Add(new TimePoint(t, running, running == 0 ? 0 : exact / (double)running, msgs));
        if (exact == running && _convergedAt < 0) _convergedAt = t;
        if (exact == running && _lastDisturbance >= 0 && _reconvergedAfter < 0) _reconvergedAfter = t - _lastDisturbance;
        if (exact == running && _healing) _healing = _partitioned = false;
    }

    private SimReport BuildReport(double wallSeconds, DataSimulation? data, PlacementMap startPlacement, HashSet<int> startMembers)
    {
        (List<double> load, double moved, double membersChanged, int keysPerNode) = PlacementStats(startPlacement, startMembers);
        double seconds = Micros.ToSeconds(_cluster.Now);
        var running = _cluster.Nodes.Where(n => n.IsRunning).ToList();
        var detection = new List<double>();
        int undetected = 0;
        foreach ((int member, (long at, int node)) in _downAt)
        {
            if (_cluster.EveryoneSeesDown(node) && _lastDeadSeen.TryGetValue(member, out long seen)) detection.Add(Micros.ToSeconds(seen - at));
            else undetected++;
        }
        detection.Sort();
        var msgRates = running.Select(n => n.MessagesSent / seconds).ToList();
        var byteRates = running.Select(n => n.BytesSent / seconds).ToList();
        return new SimReport
        {
            Scenario = _scenario.Name,
            Nodes = _scenario.Nodes,
            Regions = _scenario.Regions,
            Seed = _seed,
            Lifeguard = _scenario.Lifeguard,
            Suspicions = _cluster.Config.GossipsSuspicions(_scenario.Nodes) ? "gossip" : "accuser",
            VirtualSeconds = seconds,
            WallSeconds = wallSeconds,
            PeakRssBytes = Process.GetCurrentProcess().PeakWorkingSet64,
            TraceDigest = _cluster.Digest.ToString(),
            ConvergenceSeconds = _convergedAt,
            ReconvergenceSeconds = _reconvergedAfter,
            Crashes = _downAt.Count,
            CrashesUndetected = undetected,
            Detection = detection,
            MemberDetection = _memberDetection,
            SuspicionBoundSeconds = SuspicionBound(),
            FalsePositives = _falselyDeclared.Count,
            FalsePositivesStalling = _falselyDeclared.Count(_stallingMembers.Contains),
            FalseDeathEvents = _falseDeathEvents,
            PartitionDeathEvents = _partitionDeathEvents,
            MsgsPerNodePerSecMean = msgRates.Count == 0 ? 0 : msgRates.Average(),
            MsgsPerNodePerSecMax = msgRates.Count == 0 ? 0 : msgRates.Max(),
            BytesPerNodePerSecMean = byteRates.Count == 0 ? 0 : byteRates.Average(),
            BytesPerNodePerSecMax = byteRates.Count == 0 ? 0 : byteRates.Max(),
            WireEncoding = _cluster.WireEncoding,
            LargestDatagramBytes = _cluster.LargestDatagram,
            OversizeRefused = _cluster.OversizeRefused,
            StreamTransfers = _cluster.StreamTransfers,
            StreamBytes = _cluster.StreamBytes,
            LargestStreamBytes = _cluster.LargestStream,
            Timeline = _timeline,
            PlacementLoad = load,
            PlacementMaxOverMeanLoad = load.Count == 0 ? 0 : load.Max(),
            PlacementMovedFractionOnChurn = moved,
            PlacementMembersChangedFraction = membersChanged,
            PlacementKeysPerNode = keysPerNode,
            Disturbed = _lastDisturbance >= 0,
            Data = data?.Report(),
            Origin = data?.OriginReport(),
            Fleet = _fleet?.Report(),
            ViewsExactAtEnd = _timeline.Count > 0 && _timeline[^1].ExactViews >= 1.0,
        };
    }

    /// <summary>
    /// What the configuration predicts for detection: a probe period (stretched by the health multiplier at most) to
    /// notice, the longest suspicion, a few gossip rounds to spread, and — when many members fail at once — the time a
    /// node's gossip packets take to carry every one of those deaths as often as the retransmit limit asks.
    /// </summary>
    private double SuspicionBound()
    {
        MeshConfig c = _cluster.Config;
        double n = Math.Max(_scenario.Nodes, 1);
        double max = Micros.ToSeconds(c.SuspicionTimeouts(_scenario.Nodes).Max);
        double decades = Math.Ceiling(Math.Log10(n + 1));
        double spread = 10 * c.GossipInterval.TotalSeconds * decades;
        // A burst of D deaths is D·limit rumour sends per node; gossip carries packets of MaxPacketBytes to
        // GossipNodes members every GossipInterval.
        double limit = c.DeadRetransmitLimit(_scenario.Nodes);
        string someId = _cluster.Nodes.Count > 0 ? _cluster.Nodes[0].Swim.Id : "node";
        double rumourBytes = GossipCodec.MeasureUpdate(new MemberUpdate(UpdateKind.Dead, someId, 1, someId, null));
        double rumoursPerSecond = c.MaxPacketBytes / rumourBytes * c.GossipNodes / c.GossipInterval.TotalSeconds;
        double queued = LargestCrashBurst(Micros.From(c.ProbeInterval) * 2) * limit / rumoursPerSecond;
        return c.ProbeInterval.TotalSeconds * c.AwarenessMaxMultiplier + max + spread + queued;
    }

    /// <summary>The most members that crashed within <paramref name="window"/> of each other.</summary>
    private int LargestCrashBurst(long window)
    {
        long[] times = _downAt.Values.Select(d => d.At).Order().ToArray();
        int best = 0;
        for (int i = 0, j = 0; j < times.Length; j++)
        {
            while (times[j] - times[i] > window) i++;
            best = Math.Max(best, j - i + 1);
        }
        return best;
    }
}

/// <summary>One sample of the run, once a virtual second.</summary>
public readonly record struct TimePoint(double Seconds, int Running, double ExactViews, long MessagesSent);
