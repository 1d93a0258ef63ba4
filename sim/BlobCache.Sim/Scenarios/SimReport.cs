using System.Globalization;
using System.Text;
using System.Text.Json;
using BlobCache.Sim.Reports;

namespace BlobCache.Sim.Scenarios;

/// <summary>Everything a run measured, and how it is written: report.json (the contract), report.md and SVG charts.</summary>
public sealed record SimReport
{
    public required string Scenario { get; init; }
    public int Nodes { get; init; }
    public int Regions { get; init; }
    public ulong Seed { get; init; }
    public bool Lifeguard { get; init; }
    /// <summary>"gossip" or "accuser": whether suspicions spread to every member (what "auto" chose for the run's size).</summary>
    public string Suspicions { get; init; } = "gossip";
    public double VirtualSeconds { get; init; }
    public double WallSeconds { get; init; }
    public long PeakRssBytes { get; init; }
    public required string TraceDigest { get; init; }
    public bool WireEncoding { get; init; }
    /// <summary>Virtual second at which every running view was first exact; -1 if never.</summary>
    public double ConvergenceSeconds { get; init; }
    /// <summary>Seconds from the last disturbance (step, crash, join) until every running view was exact again; -1 if not.</summary>
    public double ReconvergenceSeconds { get; init; }
    public bool ViewsExactAtEnd { get; init; }
    public int Crashes { get; init; }
    public int CrashesUndetected { get; init; }
    /// <summary>Per crash: seconds until every running node marked it dead, sorted.</summary>
    public IReadOnlyList<double> Detection { get; init; } = [];
    /// <summary>
    /// Per crash and member: seconds until that member declared it dead. What a real mesh's members report one by one
    /// (the membership benchmark's p50); <see cref="Detection"/> is the last member's, per crash.
    /// </summary>
    public DelayHistogram MemberDetection { get; init; } = new(1);
    public double SuspicionBoundSeconds { get; init; }
    /// <summary>Running members that someone declared dead while the network was whole.</summary>
    public int FalsePositives { get; init; }
    /// <summary>Of <see cref="FalsePositives"/>, members that were themselves stalling (the rest were healthy: what Lifeguard's paper counts).</summary>
    public int FalsePositivesStalling { get; init; }
    public long FalseDeathEvents { get; init; }
    /// <summary>Deaths declared across a partition (expected: each side loses the other).</summary>
    public long PartitionDeathEvents { get; init; }
    public double MsgsPerNodePerSecMean { get; init; }
    public double MsgsPerNodePerSecMax { get; init; }
    public double BytesPerNodePerSecMean { get; init; }
    public double BytesPerNodePerSecMax { get; init; }
    /// <summary>The largest gossip datagram sent (never above the datagram budget: the mesh decides by the codec's exact size).</summary>
    public int LargestDatagramBytes { get; init; }
    /// <summary>Messages refused for being above the datagram budget without being state (0 unless ids or addresses are extreme).</summary>
    public long OversizeRefused { get; init; }
    /// <summary>State transfers sent by stream (joins and push-pulls too big for a datagram), their bytes and the largest.</summary>
    public long StreamTransfers { get; init; }
    public long StreamBytes { get; init; }
    public long LargestStreamBytes { get; init; }
    public double PlacementMaxOverMeanLoad { get; init; }
    public double PlacementMovedFractionOnChurn { get; init; }
    public double PlacementMembersChangedFraction { get; init; }
    /// <summary>Sampled keys per node behind the load figures: max ÷ mean includes their Poisson noise.</summary>
    public int PlacementKeysPerNode { get; init; }
    public bool Disturbed { get; init; }
    public IReadOnlyList<double> PlacementLoad { get; init; } = [];
    public IReadOnlyList<TimePoint> Timeline { get; init; } = [];
    public DataReport? Data { get; init; }
    /// <summary>What the simulated storage account saw (runs with a data workload).</summary>
    public OriginReport? Origin { get; init; }
    public FleetReport? Fleet { get; init; }

    public double DetectionPercentile(double p) => Percentile(Detection, p, empty: 0);

    /// <summary>The <paramref name="p"/> quantile (nearest rank) of an ascending list, <paramref name="empty"/> for none.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p, double empty) =>
        sorted.Count == 0 ? empty : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];

    public void WriteTo(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "report.json"), Json());
        File.WriteAllText(Path.Combine(directory, "report.md"), Markdown());
        var seconds = Timeline.Select(t => t.Seconds).ToList();
        File.WriteAllText(Path.Combine(directory, "convergence.svg"), SvgChart.Line(
            $"{Scenario}: running nodes whose view is exact", "virtual seconds", "share of running nodes", seconds, Timeline.Select(t => t.ExactViews).ToList(), 1.0));
        (string[] dl, double[] dc) = SvgChart.Histogram(Detection, 20, "0.#");
        File.WriteAllText(Path.Combine(directory, "detection.svg"), SvgChart.Bars(
            $"{Scenario}: crash → known dead everywhere ({Detection.Count} crashes)", "seconds", "crashes", dl, dc));
        (string[] ll, double[] lc) = SvgChart.Histogram(PlacementLoad, 24, "0.###");
        File.WriteAllText(Path.Combine(directory, "load.svg"), SvgChart.Bars(
            $"{Scenario}: keys per node ÷ mean, final placement", "load ÷ mean", "nodes", ll, lc));
        if (Data is { } d)
        {
            File.WriteAllText(Path.Combine(directory, "bytes-by-source.svg"), SvgChart.Bars(
                $"{Scenario}: bytes read, by where they came from", "source", "GiB",
                ["local", "peer", "peer (other region)", "blob"],
                [d.BytesLocal / (double)(1L << 30), d.BytesPeer / (double)(1L << 30), d.BytesPeerRemoteRegion / (double)(1L << 30), d.BytesBlob / (double)(1L << 30)]));
        }
    }

    public string Json()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("scenario", Scenario);
            w.WriteNumber("nodes", Nodes);
            w.WriteNumber("regions", Regions);
            w.WriteNumber("seed", Seed);
            w.WriteBoolean("lifeguard", Lifeguard);
            w.WriteString("suspicions", Suspicions);
            w.WriteNumber("virtual_seconds", Round(VirtualSeconds));
            w.WriteNumber("wall_seconds", Round(WallSeconds));
            w.WriteNumber("peak_rss_bytes", PeakRssBytes);
            w.WriteString("trace_digest", TraceDigest);
            w.WriteBoolean("wire_encoding", WireEncoding);
            w.WriteStartObject("membership");
            w.WriteNumber("convergence_seconds", Round(ConvergenceSeconds));
            w.WriteNumber("reconvergence_seconds", Round(ReconvergenceSeconds));
            w.WriteBoolean("views_exact_at_end", ViewsExactAtEnd);
            w.WriteNumber("crashes", Crashes);
            w.WriteNumber("crashes_undetected", CrashesUndetected);
            w.WriteStartObject("detection_seconds");
            w.WriteNumber("p50", Round(DetectionPercentile(0.5)));
            w.WriteNumber("p99", Round(DetectionPercentile(0.99)));
            w.WriteNumber("max", Round(Detection.Count == 0 ? 0 : Detection[^1]));
            w.WriteNumber("predicted_bound", Round(SuspicionBoundSeconds));
            w.WriteEndObject();
            w.WriteStartObject("member_detection_seconds");
            w.WriteNumber("p50", Round(MemberDetection.Quantile(0.5)));
            w.WriteNumber("p99", Round(MemberDetection.Quantile(0.99)));
            w.WriteNumber("declarations", MemberDetection.Count);
            w.WriteEndObject();
            w.WriteNumber("false_positives", FalsePositives);
            w.WriteNumber("false_positives_healthy", FalsePositives - FalsePositivesStalling);
            w.WriteNumber("false_positives_stalling", FalsePositivesStalling);
            w.WriteNumber("false_death_events", FalseDeathEvents);
            w.WriteNumber("partition_death_events", PartitionDeathEvents);
            Pair(w, "msgs_per_node_per_sec", MsgsPerNodePerSecMean, MsgsPerNodePerSecMax);
            Pair(w, "bytes_per_node_per_sec", BytesPerNodePerSecMean, BytesPerNodePerSecMax);
            w.WriteNumber("largest_datagram_bytes", LargestDatagramBytes);
            w.WriteNumber("oversize_refused", OversizeRefused);
            w.WriteNumber("stream_transfers", StreamTransfers);
            w.WriteNumber("stream_bytes", StreamBytes);
            w.WriteNumber("largest_stream_bytes", LargestStreamBytes);
            w.WriteEndObject();
            w.WriteStartObject("placement");
            w.WriteNumber("max_over_mean_load", Round(PlacementMaxOverMeanLoad));
            w.WriteNumber("moved_fraction_on_churn", Round(PlacementMovedFractionOnChurn));
            w.WriteNumber("members_changed_fraction", Round(PlacementMembersChangedFraction));
            w.WriteNumber("sampled_keys_per_node", PlacementKeysPerNode);
            w.WriteEndObject();
            if (Fleet is { } f)
            {
                w.WriteStartObject("fleet");
                w.WriteNumber("last_start_seconds", Round(f.LastStartSeconds));
                w.WriteStartObject("exact_after_last_start_seconds");
                w.WriteNumber("p50", Round(f.ExactPercentile(0.5)));
                w.WriteNumber("p99", Round(f.ExactPercentile(0.99)));
                w.WriteNumber("max", Round(f.AllExactAfterLastStart));
                w.WriteEndObject();
                w.WriteNumber("never_exact", f.NeverExact);
                w.WriteStartArray("seeds");
                foreach (SeedLoad seed in f.Seeds)
                {
                    w.WriteStartObject();
                    w.WriteNumber("node", seed.Node);
                    w.WriteNumber("region", seed.Region);
                    w.WriteNumber("requests", seed.Requests);
                    w.WriteNumber("transfers", seed.Transfers);
                    w.WriteNumber("bytes", seed.Bytes);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteNumber("transfers_served_mean", Round(f.TransfersServedMean));
                w.WriteNumber("transfers_served_max", f.TransfersServedMax);
                w.WriteNumber("bytes_served_max", f.BytesServedMax);
                w.WriteNumber("bytes_received_max", f.BytesReceivedMax);
                w.WriteNumber("largest_transfer_bytes", f.LargestTransferBytes);
                w.WriteEndObject();
            }
            w.WriteStartObject("data");
            DataReport d = Data ?? new DataReport { Kind = "none" };
            w.WriteString("kind", d.Kind);
            w.WriteNumber("blob_gets", d.BlobGets);
            w.WriteNumber("unique_chunks", d.UniqueChunks);
            w.WriteNumber("blob_reads_per_chunk_per_region", Round(d.BlobReadsPerChunkPerRegion));
            w.WriteStartObject("bytes_by_source");
            w.WriteNumber("local", d.BytesLocal);
            w.WriteNumber("peer", d.BytesPeer);
            w.WriteNumber("peer_remote_region", d.BytesPeerRemoteRegion);
            w.WriteNumber("blob", d.BytesBlob);
            w.WriteEndObject();
            w.WriteNumber("max_owner_concurrency", d.MaxOwnerConcurrency);
            w.WriteNumber("owner_concurrency_limit", d.OwnerConcurrencyLimit);
            w.WriteNumber("busy_answers", d.BusyAnswers);
            w.WriteNumber("handoffs", d.Handoffs);
            w.WriteNumber("served_by_holders", d.ServedByHolders);
            w.WriteNumber("owner_timeouts", d.OwnerTimeouts);
            w.WriteNumber("owner_retries", d.OwnerRetries);
            w.WriteNumber("cache_chunks", d.CacheChunks);
            w.WriteNumber("evictions", d.Evictions);
            w.WriteNumber("reads_done", d.ReadsDone);
            w.WriteNumber("reads_total", d.ReadsTotal);
            w.WriteNumber("reads_failed", d.ReadsFailed);
            w.WriteNumber("list_pages_failed", d.ListPagesFailed);
            w.WriteNumber("cold_reads", d.ColdReads);
            w.WriteNumber("peer_requests_per_cold_read", Round(d.PeerRequestsPerColdRead));
            w.WriteNumber("max_peer_requests_per_cold_read", d.MaxPeerRequestsPerColdRead);
            w.WriteNumber("completion_seconds", Round(d.CompletionSeconds));
            if (!double.IsNaN(d.IdealSeconds)) w.WriteNumber("ideal_seconds", Round(d.IdealSeconds));
            if (!double.IsNaN(d.HostCoresBusy)) w.WriteNumber("host_cores_busy", Round(d.HostCoresBusy));
            w.WriteStartObject("time_to_all_bytes_seconds");
            w.WriteNumber("p50", Round(d.TimeToAllBytes.P50));
            w.WriteNumber("p99", Round(d.TimeToAllBytes.P99));
            w.WriteNumber("max", Round(d.TimeToAllBytes.Max));
            w.WriteNumber("nodes", d.TimeToAllBytes.Count);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartObject("metadata");
            w.WriteBoolean("via_mesh", d.MetadataViaMesh);
            w.WriteNumber("peer_requests", d.MetadataPeerRequests);
            w.WriteNumber("timeouts", d.MetadataTimeouts);
            w.WriteNumber("max_requests_per_second_at_one_node", d.MetadataMaxRequestsPerSecondAtOneNode);
            w.WriteNumber("max_age_seconds", Round(d.MetadataMaxAgeSeconds));
            w.WriteEndObject();
            if (Origin is { } o) WriteOrigin(w, o);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    public string Markdown()
    {
        var md = new StringBuilder();
        string I(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
        md.AppendLine(I($"# Simulation: {Scenario}"));
        md.AppendLine();
        md.AppendLine(I($"{Nodes:N0} nodes in {Regions} region(s), seed {Seed}, Lifeguard {(Lifeguard ? "on" : "off")}, suspicions {(Suspicions == "gossip" ? "gossiped to every member" : "kept by their accusers")}; {VirtualSeconds:F0} virtual seconds in {WallSeconds:F1} s of wall time, peak memory {PeakRssBytes / (1024.0 * 1024 * 1024):F2} GiB. Trace digest `{TraceDigest}` (equal seeds give equal digests). Packets {(WireEncoding ? "went through the real codec" : "were passed as objects and sized by the codec")}."));
        md.AppendLine();
        md.AppendLine("## Membership");
        md.AppendLine();
        md.AppendLine("| measure | value |");
        md.AppendLine("|---|---|");
        md.AppendLine(I($"| every running view exact at | {(ConvergenceSeconds < 0 ? "never" : $"{ConvergenceSeconds:F1} s")} |"));
        md.AppendLine(I($"| exact again after the last disturbance | {(!Disturbed ? "no disturbance" : ReconvergenceSeconds < 0 ? "no" : $"{ReconvergenceSeconds:F1} s later")} |"));
        md.AppendLine(I($"| views exact at the end | {(ViewsExactAtEnd ? "yes" : "no")} |"));
        md.AppendLine(I($"| crashes detected everywhere | {Crashes - CrashesUndetected} of {Crashes} |"));
        md.AppendLine(I($"| detection p50 / p99 / max | {DetectionPercentile(0.5):F1} / {DetectionPercentile(0.99):F1} / {(Detection.Count == 0 ? 0 : Detection[^1]):F1} s (configuration predicts ≤ {SuspicionBoundSeconds:F1} s) |"));
        md.AppendLine(I($"| per member: crash → that member declares it dead, p50 / p99 | {MemberDetection.Quantile(0.5):F2} / {MemberDetection.Quantile(0.99):F2} s ({MemberDetection.Count} declarations) |"));
        md.AppendLine(I($"| false positives (running members declared dead) | {FalsePositives} ({FalseDeathEvents} events; {FalsePositives - FalsePositivesStalling} healthy, {FalsePositivesStalling} stalling) |"));
        md.AppendLine(I($"| deaths declared across a partition | {PartitionDeathEvents} |"));
        md.AppendLine(I($"| gossip messages per node per second, mean / max | {MsgsPerNodePerSecMean:F1} / {MsgsPerNodePerSecMax:F1} |"));
        md.AppendLine(I($"| gossip bytes per node per second, mean / max | {BytesPerNodePerSecMean:F0} / {BytesPerNodePerSecMax:F0} |"));
        md.AppendLine();
        md.AppendLine("![convergence](convergence.svg) ![detection](detection.svg)");
        md.AppendLine();
        md.AppendLine("## Placement");
        md.AppendLine();
        md.AppendLine(I($"Keys per node, max ÷ mean: {PlacementMaxOverMeanLoad:F3} (from {PlacementKeysPerNode} sampled keys per node, so it includes their sampling noise). Keys that changed owner between the start and the end: {PlacementMovedFractionOnChurn:P2}, while {PlacementMembersChangedFraction:P2} of the members changed."));
        md.AppendLine();
        md.AppendLine("![load](load.svg)");
        if (Fleet is { } f)
        {
            md.AppendLine();
            md.AppendLine("## Fleet start");
            md.AppendLine();
            md.AppendLine("| measure | value |");
            md.AppendLine("|---|---|");
            md.AppendLine(I($"| last start | {f.LastStartSeconds:F1} s |"));
            md.AppendLine(I($"| view exact after the last start, p50 / p99 / max | {f.ExactPercentile(0.5):F0} / {f.ExactPercentile(0.99):F0} / {f.AllExactAfterLastStart:F0} s ({f.NeverExact:N0} never) |"));
            md.AppendLine(I($"| state transfers served per node, mean / max | {f.TransfersServedMean:F1} / {f.TransfersServedMax:N0} ({f.TransfersServedMaxOverMean:F1}×) |"));
            md.AppendLine(I($"| most bytes one node served / received | {f.BytesServedMax / 1048576.0:F1} / {f.BytesReceivedMax / 1048576.0:F1} MiB |"));
            md.AppendLine(I($"| largest state transfer | {f.LargestTransferBytes / 1024.0:F1} KiB |"));
            foreach (SeedLoad seed in f.Seeds)
                md.AppendLine(I($"| seed {seed.Node} (region {seed.Region}) | {seed.Requests:N0} requests, {seed.Transfers:N0} transfers, {seed.Bytes / 1048576.0:F1} MiB |"));
        }
        if (Data is { } d)
        {
            md.AppendLine();
            md.AppendLine(I($"## Data: {d.Kind}"));
            md.AppendLine();
            md.AppendLine("| measure | value |");
            md.AppendLine("|---|---|");
            md.AppendLine(I($"| reads done | {d.ReadsDone:N0} of {d.ReadsTotal:N0} |"));
            md.AppendLine(I($"| Blob GETs | {d.BlobGets:N0} for {d.UniqueChunks:N0} chunks ({d.BlobReadsPerChunkPerRegion:F3} per chunk per reading region) |"));
            md.AppendLine(I($"| bytes: local / peer / other region / Blob | {GiB(d.BytesLocal)} / {GiB(d.BytesPeer)} / {GiB(d.BytesPeerRemoteRegion)} / {GiB(d.BytesBlob)} GiB |"));
            md.AppendLine(I($"| most transfers sent at once by one node | {d.MaxOwnerConcurrency} (limit {d.OwnerConcurrencyLimit}) |"));
            md.AppendLine(I($"| busy answers / naming holders / chunks sent by named holders | {d.BusyAnswers:N0} / {d.Handoffs:N0} / {d.ServedByHolders:N0} |"));
            md.AppendLine(I($"| asks past their deadline / asks of a region's next owner | {d.OwnerTimeouts:N0} / {d.OwnerRetries:N0} |"));
            md.AppendLine(I($"| cache per node | {(d.CacheChunks == 0 ? "unbounded" : $"{d.CacheChunks:N0} chunks")}; {d.Evictions:N0} evictions |"));
            md.AppendLine(I($"| completion | {(d.CompletionSeconds < 0 ? "not finished" : $"{d.CompletionSeconds:F1} s")}{(double.IsNaN(d.IdealSeconds) ? "" : $" (NIC-bound ideal {d.IdealSeconds:F1} s)")} |"));
            md.AppendLine(I($"| blob properties | {(d.MetadataViaMesh ? "through the mesh" : "from Blob by every node")}: {d.MetadataPeerRequests:N0} peer requests, {d.MetadataTimeouts:N0} past their deadline, at most {d.MetadataMaxRequestsPerSecondAtOneNode:N0} in one second at one node; oldest used {d.MetadataMaxAgeSeconds:F2} s after Blob gave them |"));
            md.AppendLine(I($"| time until a node had all its bytes, p50 / p99 / max | {d.TimeToAllBytes.P50:F1} / {d.TimeToAllBytes.P99:F1} / {d.TimeToAllBytes.Max:F1} s ({d.TimeToAllBytes.Count:N0} nodes; {d.ReadsFailed:N0} reads failed) |"));
            md.AppendLine();
            md.AppendLine("![bytes by source](bytes-by-source.svg)");
            if (Origin is { } o)
            {
                md.AppendLine();
                md.AppendLine("## Origin");
                md.AppendLine();
                md.AppendLine(OriginSummary(o, d));
            }
        }
        return md.ToString();
    }

    private static void WriteOrigin(Utf8JsonWriter w, OriginReport o)
    {
        w.WriteStartObject("origin");
        w.WriteStartObject("limits");
        w.WriteNumber("account_requests_per_second", o.Limits.AccountRequestsPerSecond);
        w.WriteNumber("blob_requests_per_second", o.Limits.BlobRequestsPerSecond);
        w.WriteNumber("account_egress_gbps", o.Limits.AccountEgressGbps);
        w.WriteNumber("burst_seconds", o.Limits.BurstSeconds);
        w.WriteEndObject();
        w.WriteNumber("requests", o.RequestsTotal);
        w.WriteStartObject("requests_by_kind");
        foreach ((var kind, long n) in o.RequestsByKind) w.WriteNumber(OriginReport.JsonName(kind), n);
        w.WriteEndObject();
        w.WriteStartObject("throttled");
        w.WriteNumber("total", o.ThrottledTotal);
        foreach ((var reason, long n) in o.Throttled) w.WriteNumber(OriginReport.JsonName(reason), n);
        w.WriteEndObject();
        w.WriteStartObject("throttled_by_kind");
        foreach ((var kind, long n) in o.ThrottledByKind) w.WriteNumber(OriginReport.JsonName(kind), n);
        w.WriteEndObject();
        w.WriteStartObject("requests_per_object_per_region");
        foreach (var kind in o.RequestsByKind.Keys) Pair(w, OriginReport.JsonName(kind), o.PerObjectPerRegionMean[kind], o.PerObjectPerRegionMax[kind]);
        w.WriteEndObject();
        w.WriteNumber("peak_requests_per_second", o.PeakRequestsPerSecond);
        w.WriteEndObject();
    }

    /// <summary>The origin in one line, as the README quotes it.</summary>
    public static string OriginSummary(OriginReport o, DataReport d) => string.Create(CultureInfo.InvariantCulture,
        $"Origin: {o.RequestsTotal:N0} requests ({o.RequestsByKind[Mesh.Origin.OriginRequestKind.GetRange]:N0} GET, {o.RequestsByKind[Mesh.Origin.OriginRequestKind.Head]:N0} HEAD, {o.RequestsByKind[Mesh.Origin.OriginRequestKind.List]:N0} LIST), " +
        $"{o.ThrottledTotal:N0} throttled ({o.ThrottledByKind[Mesh.Origin.OriginRequestKind.List]:N0} LIST), peak {o.PeakRequestsPerSecond:N0} requests/s, HEADs per blob per region {o.PerObjectPerRegionMean[Mesh.Origin.OriginRequestKind.Head]:F1} mean / {o.PerObjectPerRegionMax[Mesh.Origin.OriginRequestKind.Head]:N0} max; " +
        $"every node had its bytes after {d.TimeToAllBytes.P50:F1} / {d.TimeToAllBytes.P99:F1} / {d.TimeToAllBytes.Max:F1} s (p50 / p99 / max); {d.ReadsFailed:N0} reads failed, {d.ListPagesFailed:N0} listing pages failed.");

    private static string GiB(long bytes) => (bytes / (double)(1L << 30)).ToString("F1", CultureInfo.InvariantCulture);

    private static double Round(double v) => double.IsFinite(v) ? Math.Round(v, 4) : -1;

    private static void Pair(Utf8JsonWriter w, string name, double mean, double max)
    {
        w.WriteStartObject(name);
        w.WriteNumber("mean", Round(mean));
        w.WriteNumber("max", Round(max));
        w.WriteEndObject();
    }
}
