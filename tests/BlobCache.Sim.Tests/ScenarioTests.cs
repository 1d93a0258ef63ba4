using System.Text.Json;
using BlobCache.Sim.Scenarios;

namespace BlobCache.Sim.Tests;

/// <summary>Every built-in scenario, shrunk to CI size, must keep its invariants; equal seeds must give equal runs.</summary>
public class ScenarioTests
{
    /// <summary>A built-in scenario at a size CI can afford: at most 2,000 nodes and a few seconds of wall time.</summary>
    private static Scenario Small(string name, int nodes, double? duration = null)
    {
        Scenario s = Scenario.Load(name);
        var options = new SimOptions { Nodes = nodes, Duration = duration };
        return options.Apply(s);
    }

    /// <summary>The membership scenarios at CI size: name, nodes, virtual seconds (null: the scenario's own).</summary>
    public static TheoryData<string, int, double?> MembershipScenarios => new()
    {
        { "steady", 300, 30.0 },
        { "crash", 400, 60.0 },
        { "churn", 300, null },
        { "rolling-restart", 300, null },
        { "region-partition", 300, null },
        { "lossy", 200, 60.0 },
        { "slow-nodes", 200, null },
    };

    /// <summary>
    /// The data scenarios whose invariants hold with the node's routing. Stampede and pooled-regions break "Blob once
    /// per chunk per region": see <see cref="Every_data_scenario_reads_each_chunk_from_Blob_once_per_reading_region"/>.
    /// </summary>
    public static TheoryData<string, int, double?> DataScenarios => new()
    {
        { "epoch", 200, 60.0 },
    };

    [Theory]
    [MemberData(nameof(MembershipScenarios))]
    [MemberData(nameof(DataScenarios))]
    public void Built_in_scenarios_keep_their_invariants(string name, int nodes, double? duration)
    {
        Scenario scenario = Small(name, nodes, duration);
        SimReport report = new ScenarioRunner(scenario, seed: 3).Run();

        List<string> broken = Invariants.Check(scenario, report);
        Assert.True(broken.Count == 0, string.Join("; ", broken));
        Assert.True(report.WireEncoding, "small runs must push every packet through the real codec");
    }

    [Theory]
    [MemberData(nameof(MembershipScenarios))]
    public void Membership_scenarios_keep_their_invariants_with_suspicions_kept_by_their_accusers(string name, int nodes, double? duration)
    {
        Scenario scenario = new SimOptions { Nodes = nodes, Duration = duration, Suspicions = "accuser" }.Apply(Scenario.Load(name));
        SimReport report = new ScenarioRunner(scenario, seed: 3).Run();

        Assert.Equal("accuser", report.Suspicions);
        List<string> broken = Invariants.Check(scenario, report);
        Assert.True(broken.Count == 0, string.Join("; ", broken));
    }

    [Fact]
    public void Nodes_joining_through_one_seed_converge_and_the_report_says_when()
    {
        Scenario scenario = new SimOptions { Nodes = 300, Duration = 60, Bootstrap = "join" }.Apply(Scenario.Load("steady"));
        SimReport report = new ScenarioRunner(scenario, seed: 2).Run();
        Assert.InRange(report.ConvergenceSeconds, 0.5, 60);
        Assert.True(report.ViewsExactAtEnd);
        Assert.Empty(Invariants.Check(scenario, report));
    }

    [Theory]
    [InlineData("fleet-start")]
    [InlineData("fleet-start-burst")]
    public void A_fleet_starting_together_has_every_view_exact_soon_after_the_last_start_and_spares_its_seeds(string name)
    {
        Scenario scenario = Small(name, 600, 120); // 60 s after the last start: far more than 600 nodes need
        SimReport report = new ScenarioRunner(scenario, seed: 3).Run();

        Assert.Empty(Invariants.Check(scenario, report));
        FleetReport fleet = Assert.IsType<FleetReport>(report.Fleet);
        Assert.Equal(9, fleet.Seeds.Count);
        Assert.InRange(fleet.AllExactAfterLastStart, 0, Invariants.FleetExactSeconds);
        // Each seed answered its share of joins (591 joiners over 9 seeds), each with one datagram: no seed is a
        // state server.
        Assert.All(fleet.Seeds, seed => Assert.InRange(seed.Transfers, 0, Invariants.FleetMaxOverMeanTransfers * Math.Max(1, fleet.TransfersServedMean)));
        Assert.InRange(report.LargestDatagramBytes, 1, 1_400);
    }

    [Fact]
    public void Moving_the_views_of_a_starting_fleet_onto_shared_bases_changes_no_view_and_holds_them_in_far_less()
    {
        Scenario scenario = Small("fleet-start", 600, 90);
        var plain = new ScenarioRunner(scenario, seed: 4);
        var rebased = new ScenarioRunner(scenario, seed: 4) { RebaseFromNodes = 0 };
        SimReport a = plain.Run(), b = rebased.Run();

        Assert.Equal(a.TraceDigest, b.TraceDigest);
        Assert.Equal(a.Fleet!.ExactAfterLastStart, b.Fleet!.ExactAfterLastStart);
        // Every view on one base: each holds a few differences, not a copy of the membership.
        Assert.InRange(rebased.Cluster.ViewDifferences, 0, plain.Cluster.ViewDifferences / 10);
    }

    [Fact]
    public void After_a_crash_the_views_become_exact_again_and_the_report_says_how_soon()
    {
        SimReport report = new ScenarioRunner(Small("crash", 300), seed: 8).Run();
        Assert.InRange(report.ReconvergenceSeconds, report.Detection[^1] - 1, 50);
    }

    [Fact]
    public void Crashes_are_detected_everywhere_within_the_predicted_bound()
    {
        SimReport report = new ScenarioRunner(Small("crash", 500), seed: 5).Run();
        Assert.Equal(5, report.Crashes);
        Assert.Equal(0, report.CrashesUndetected);
        Assert.Equal(5, report.Detection.Count);
        Assert.All(report.Detection, d => Assert.InRange(d, 0.5, report.SuspicionBoundSeconds));
        // Every survivor declares each crash once, and the per-member figure (what a real mesh's members report one
        // by one) is never later than the last member's.
        Assert.Equal(5L * (500 - 5), report.MemberDetection.Count);
        Assert.InRange(report.MemberDetection.Quantile(0.5), 0.5, report.Detection[^1] + 0.01);
        Assert.InRange(report.MemberDetection.Quantile(1.0), report.Detection[^1] - 0.01, report.Detection[^1] + 0.01);
    }

    [Fact]
    public void A_delay_histogram_gives_nearest_rank_quantiles_to_its_bin_and_counts_delays_past_its_range_as_its_end()
    {
        var h = new DelayHistogram(maxSeconds: 1);
        Assert.Equal(0, h.Quantile(0.5));
        foreach (long micros in new long[] { 5_000, 15_000, 25_000, 2_000_000 }) h.Add(micros);
        Assert.Equal((0.01, 0.02, 0.03, 1.0), (h.Quantile(0.25), h.Quantile(0.5), h.Quantile(0.75), h.Quantile(1.0)));
    }

    [Fact]
    public void Epoch_reads_each_chunk_from_blob_once_per_region_and_the_second_epoch_from_peers()
    {
        SimReport report = new ScenarioRunner(Small("epoch", 200, 60), seed: 4).Run();
        DataReport d = Assert.IsType<DataReport>(report.Data);
        Assert.Equal(d.UniqueChunks, d.BlobGets);
        Assert.Equal(d.ReadsTotal, d.ReadsDone);
        Assert.True(d.BytesPeer + d.BytesLocal >= d.BytesBlob, "the second epoch should come from the mesh");
    }

    [Fact]
    public void A_cache_smaller_than_a_nodes_share_evicts_and_the_second_epoch_reads_blob_again()
    {
        Scenario s = Small("epoch", 200, 60);
        s = s with { Workload = s.Workload! with { CacheChunks = 8 } }; // each node owns about 20 of the 4,096 chunks
        SimReport report = new ScenarioRunner(s, seed: 4).Run();
        DataReport d = Assert.IsType<DataReport>(report.Data);
        Assert.Equal(d.ReadsTotal, d.ReadsDone);
        Assert.True(d.Evictions > 0);
        Assert.True(d.BlobGets > d.UniqueChunks, $"{d.BlobGets} Blob GETs: evicted chunks must be read again");
        Assert.Empty(Invariants.Check(s, report));
    }

    [Fact]
    public void A_read_whose_owner_crashed_costs_one_peer_timeout_then_the_next_owner_reads_Blob_for_the_region()
    {
        Scenario s = Small("epoch", 200, 60);
        // Crashed just before reading starts (t=1 s), long before anyone notices: a tenth of the chunks' owners are dead.
        s = s with { Steps = [new ScenarioStep { At = 0, Action = "crash", Fraction = 0.10 }], Workload = s.Workload! with { PeerTimeoutMs = 3_000 } };
        SimReport report = new ScenarioRunner(s, seed: 4).Run();
        DataReport d = Assert.IsType<DataReport>(report.Data);
        Assert.Equal(d.ReadsTotal, d.ReadsDone);
        Assert.True(d.OwnerTimeouts > 0, "reads must have asked dead owners");
        // A timed-out owner is followed by the region's next owner, not by Blob or the dead owner again; only a reader
        // that is itself the next owner (or whose next owner is dead too) reads Blob after the timeout.
        Assert.InRange(d.OwnerRetries, d.OwnerTimeouts * 8 / 10, long.MaxValue);
        Assert.InRange(d.CompletionSeconds, 3.0, 60);
        // A reader going to Blob itself after each timeout would read the dead owners' tenth again in epoch two.
        Assert.InRange(d.BlobGets, d.UniqueChunks, d.UniqueChunks * 102 / 100);
    }

    [Fact]
    public void With_a_transfer_timeout_shorter_than_one_transfer_every_read_gives_up_on_its_peers_and_finishes_from_Blob()
    {
        Scenario s = Small("epoch", 200, 60);
        // A 4 MiB chunk takes 1.3 ms on the NIC alone; the peer answers at once, so only the transfer deadline can bite.
        s = s with { Workload = s.Workload! with { PeerTimeoutMs = 1, PeerTransferTimeoutMs = 1 } };
        SimReport report = new ScenarioRunner(s, seed: 4).Run();
        DataReport d = Assert.IsType<DataReport>(report.Data);
        Assert.Equal(d.ReadsTotal, d.ReadsDone);
        Assert.True(d.OwnerTimeouts > 0);
        Assert.Equal(0, d.BytesPeer);
    }

    [Fact]
    public void A_peer_that_answered_may_take_longer_than_the_answer_timeout_to_deliver_as_on_the_node()
    {
        Scenario s = Small("epoch", 200, 60);
        // The answer timeout is shorter than one transfer, the transfer deadline is not: peers still deliver.
        s = s with { Workload = s.Workload! with { PeerTimeoutMs = 1 } };
        DataReport d = Assert.IsType<DataReport>(new ScenarioRunner(s, seed: 4).Run().Data);
        Assert.Equal(d.ReadsTotal, d.ReadsDone);
        Assert.Equal(0, d.OwnerTimeouts);
        Assert.True(d.BytesPeer > 0);
    }

    [Fact]
    public void A_stampede_keeps_each_senders_transfers_within_the_limit_and_busy_peers_hand_readers_to_holders()
    {
        SimReport report = new ScenarioRunner(Small("stampede", 200, 120), seed: 3).Run();
        DataReport d = Assert.IsType<DataReport>(report.Data);
        Assert.Equal(d.ReadsTotal, d.ReadsDone);
        Assert.InRange(d.MaxOwnerConcurrency, 1, d.OwnerConcurrencyLimit);
        Assert.True(d.Handoffs > 0 && d.Handoffs <= d.BusyAnswers, $"{d.Handoffs} handoffs of {d.BusyAnswers} busy answers");
        Assert.True(d.ServedByHolders > 0, "named holders must send the chunk");
    }

    [Theory]
    [InlineData("stampede", 200, 120.0)]
    [InlineData("pooled-regions", 150, 120.0)]
    public void Every_data_scenario_reads_each_chunk_from_Blob_once_per_reading_region(string name, int nodes, double duration)
    {
        SimReport report = new ScenarioRunner(Small(name, nodes, duration), seed: 3).Run();
        DataReport d = Assert.IsType<DataReport>(report.Data);
        Assert.Equal(1.0, d.BlobReadsPerChunkPerRegion);
    }

    [Fact]
    public void Pooled_regions_read_from_the_other_region_instead_of_blob()
    {
        SimReport report = new ScenarioRunner(Small("pooled-regions", 150, 120), seed: 4).Run();
        DataReport d = Assert.IsType<DataReport>(report.Data);
        Assert.Equal(d.ReadsTotal, d.ReadsDone);
        long chunkBytes = 4L << 20;
        // Region 0 read each chunk once, from Blob; regions 1 and 2 read nearly all of theirs from region 0's owners
        // (the rest from copies their own region got from there), a rare reader that every peer turned away from Blob.
        Assert.InRange(d.BytesBlob, d.UniqueChunks * chunkBytes, d.UniqueChunks * chunkBytes * 101 / 100);
        Assert.InRange(d.BytesPeerRemoteRegion, 2 * d.UniqueChunks * chunkBytes * 9 / 10, 2 * d.UniqueChunks * chunkBytes);
    }

    [Fact]
    public void One_seed_gives_one_trace_digest_and_another_seed_a_different_one()
    {
        Scenario s = Small("crash", 200, 40);
        string a = new ScenarioRunner(s, seed: 11).Run().TraceDigest;
        string b = new ScenarioRunner(s, seed: 11).Run().TraceDigest;
        string c = new ScenarioRunner(s, seed: 12).Run().TraceDigest;
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void One_seed_gives_one_trace_digest_when_nodes_read_too()
    {
        Scenario s = Small("stampede", 100, 20) with { Workload = Scenario.Load("stampede").Workload! with { Chunks = 64 } };
        SimReport a = new ScenarioRunner(s, seed: 5).Run(), b = new ScenarioRunner(s, seed: 5).Run();
        Assert.Equal(a.TraceDigest, b.TraceDigest);
        Assert.Equal(a.Data, b.Data);
    }

    [Fact]
    public void Report_json_has_the_contract_keys()
    {
        SimReport report = new ScenarioRunner(Small("epoch", 100, 40), seed: 1).Run();
        string dir = Path.Combine(Path.GetTempPath(), $"blobcache-sim-test-{Guid.NewGuid():N}");
        try
        {
            report.WriteTo(dir);
            using JsonDocument json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "report.json")));
            JsonElement root = json.RootElement;
            foreach (string key in new[] { "nodes", "regions", "seed", "virtual_seconds", "wall_seconds", "peak_rss_bytes", "trace_digest" })
                Assert.True(root.TryGetProperty(key, out _), key);
            JsonElement m = root.GetProperty("membership");
            Assert.True(m.GetProperty("convergence_seconds").ValueKind == JsonValueKind.Number);
            foreach (string p in new[] { "p50", "p99", "max" }) Assert.True(m.GetProperty("detection_seconds").TryGetProperty(p, out _), p);
            Assert.True(m.TryGetProperty("false_positives", out _));
            Assert.True(m.GetProperty("msgs_per_node_per_sec").TryGetProperty("mean", out _));
            Assert.True(m.GetProperty("bytes_per_node_per_sec").TryGetProperty("max", out _));
            JsonElement pl = root.GetProperty("placement");
            Assert.True(pl.GetProperty("max_over_mean_load").GetDouble() >= 1.0);
            Assert.True(pl.TryGetProperty("moved_fraction_on_churn", out _));
            JsonElement d = root.GetProperty("data");
            foreach (string k in new[] { "blob_gets", "unique_chunks", "blob_reads_per_chunk_per_region", "max_owner_concurrency", "busy_answers", "handoffs", "served_by_holders", "owner_timeouts", "owner_retries", "completion_seconds" })
                Assert.True(d.TryGetProperty(k, out _), k);
            foreach (string k in new[] { "local", "peer", "peer_remote_region", "blob" })
                Assert.True(d.GetProperty("bytes_by_source").TryGetProperty(k, out _), k);
            Assert.True(d.TryGetProperty("reads_failed", out _));
            foreach (string p in new[] { "p50", "p99", "max" }) Assert.True(d.GetProperty("time_to_all_bytes_seconds").TryGetProperty(p, out _), p);
            JsonElement o = root.GetProperty("origin");
            foreach (string kind in new[] { "get_range", "head", "list", "container_properties" })
            {
                Assert.True(o.GetProperty("requests_by_kind").GetProperty(kind).ValueKind == JsonValueKind.Number, kind);
                Assert.True(o.GetProperty("requests_per_object_per_region").GetProperty(kind).TryGetProperty("max", out _), kind);
                Assert.True(o.GetProperty("requests_per_object_per_region").GetProperty(kind).TryGetProperty("mean", out _), kind);
            }
            foreach (string reason in new[] { "total", "account_requests", "blob_requests", "account_egress" })
                Assert.True(o.GetProperty("throttled").TryGetProperty(reason, out _), reason);
            Assert.True(o.GetProperty("peak_requests_per_second").GetInt64() > 0);
            Assert.Equal(20_000, o.GetProperty("limits").GetProperty("account_requests_per_second").GetInt32());
            Assert.Contains("Origin: ", File.ReadAllText(Path.Combine(dir, "report.md")), StringComparison.Ordinal);
            foreach (string chart in new[] { "convergence.svg", "detection.svg", "load.svg", "bytes-by-source.svg", "report.md" })
                Assert.True(new FileInfo(Path.Combine(dir, chart)).Length > 200, chart);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
