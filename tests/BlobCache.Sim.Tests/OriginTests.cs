using BlobCache.Mesh;
using BlobCache.Mesh.Origin;
using BlobCache.Sim.Scenarios;

namespace BlobCache.Sim.Tests;

/// <summary>The simulated storage account: every origin request counted by kind, Azure's limits enforced, refusals retried with the node's backoff.</summary>
public class OriginTests
{
    /// <summary>
    /// model-fanout at CI size: 600 nodes, 200 in each of 3 regions, each reading the 50-file checkpoint, every
    /// node asking Blob for the properties itself (the load the origin's limits are tested with).
    /// </summary>
    private static Scenario Fanout(OriginLimits? limits = null, int nodes = 600)
    {
        Scenario s = new SimOptions { Nodes = nodes, Duration = 20, MetadataViaMesh = false }.Apply(Scenario.Load("model-fanout"));
        return limits is null ? s : s with { Workload = s.Workload! with { Origin = limits } };
    }

    [Fact]
    public void Every_origin_request_is_counted_by_kind_and_with_metadata_direct_every_node_asks_for_each_files_properties()
    {
        Scenario s = Fanout(OriginLimits.None);
        SimReport report = new ScenarioRunner(s, seed: 3).Run();
        DataReport d = Assert.IsType<DataReport>(report.Data);
        OriginReport o = Assert.IsType<OriginReport>(report.Origin);

        Assert.Equal(d.ReadsTotal, d.ReadsDone);
        Assert.Equal(0, o.ThrottledTotal);
        Assert.Equal(d.BlobGets, o.RequestsByKind[OriginRequestKind.GetRange]);
        Assert.Equal(1.0, d.BlobReadsPerChunkPerRegion);
        // The read lasts less than the 5 s TTL: each node asks Blob once per file, so each file hears from every
        // node of each region, and nothing is listed.
        Assert.Equal(s.Nodes * s.Workload!.Files, o.RequestsByKind[OriginRequestKind.Head]);
        Assert.Equal(s.Nodes / s.Regions, o.PerObjectPerRegionMax[OriginRequestKind.Head]);
        Assert.Equal(s.Nodes / (double)s.Regions, o.PerObjectPerRegionMean[OriginRequestKind.Head]);
        Assert.Equal(0, o.RequestsByKind[OriginRequestKind.List]);
        Assert.Equal(0, o.RequestsByKind[OriginRequestKind.ContainerProperties]);
        Assert.Equal(s.Nodes, d.TimeToAllBytes.Count);
        Assert.InRange(d.TimeToAllBytes.P50, 0.001, d.TimeToAllBytes.Max);
    }

    [Fact]
    public void A_per_blob_limit_of_N_per_second_refuses_the_next_request_in_that_second_and_serves_the_retry_after_the_backoff()
    {
        const int n = 20;
        var origin = new SimulatedOrigin(OriginLimits.None with { BlobRequestsPerSecond = n });
        ulong blob = 42;
        for (int i = 0; i < n; i++)
            Assert.Equal(OriginVerdict.Served, origin.Request(0, OriginRequestKind.Head, blob, blob, region: 0, bytes: 0));
        Assert.Equal(OriginVerdict.BlobRequests, origin.Request(0, OriginRequestKind.Head, blob, blob, region: 0, bytes: 0));
        Assert.Equal(OriginVerdict.BlobRequests, origin.Request(Micros.PerSecond / n / 2, OriginRequestKind.Head, blob, blob, region: 0, bytes: 0));

        // The node's first retry waits 100 ms ± 20%: by then the bucket has 20/s × 80 ms = 1.6 requests again.
        long retry = OriginBackoff.Default.DelayMicros(1, SimulatedOrigin.Jitter(new DeterministicRandom(7)));
        Assert.InRange(retry, 80 * Micros.PerMillisecond, 120 * Micros.PerMillisecond);
        Assert.Equal(OriginVerdict.Served, origin.Request(retry, OriginRequestKind.Head, blob, blob, region: 0, bytes: 0));
        Assert.Equal(n + 3, origin.Received(OriginRequestKind.Head));
        Assert.Equal(n + 1, origin.Served(OriginRequestKind.Head));
        Assert.Equal(2, origin.Refused(OriginVerdict.BlobRequests));
        Assert.Equal(n + 3, origin.PerObjectPerRegionMax(OriginRequestKind.Head));
    }

    [Fact]
    public void Under_Azures_per_blob_limit_the_fanout_is_throttled_and_every_refused_request_is_served_on_a_retry()
    {
        Scenario s = Fanout();
        SimReport report = new ScenarioRunner(s, seed: 3).Run();
        DataReport d = Assert.IsType<DataReport>(report.Data);
        OriginReport o = Assert.IsType<OriginReport>(report.Origin);

        // 600 nodes ask for each file's properties at once: 500 fit one second of the blob's budget, the rest are refused.
        Assert.True(o.Throttled[OriginVerdict.BlobRequests] > 0, "600 HEADs of one blob at once must exceed 500/s");
        Assert.Equal(o.ThrottledTotal, o.RequestsTotal - o.ServedByKind.Values.Sum());
        // ...and asked again after the node's backoff until served: every node got every file's properties once.
        Assert.Equal(s.Nodes * s.Workload!.Files, o.ServedByKind[OriginRequestKind.Head]);
        Assert.True(o.RequestsByKind[OriginRequestKind.Head] > o.ServedByKind[OriginRequestKind.Head]);
        Assert.Equal(d.ReadsTotal, d.ReadsDone);
        Assert.Equal(0, d.ReadsFailed);
        Assert.Equal(1.0, d.BlobReadsPerChunkPerRegion);
        Assert.InRange(o.PeakRequestsPerSecond, 1, OriginLimits.Azure.AccountRequestsPerSecond * 2);
    }

    [Fact]
    public void Reads_whose_requests_Blob_keeps_refusing_fail_after_the_nodes_retries_and_are_reported()
    {
        Scenario s = Fanout(OriginLimits.None with { BlobRequestsPerSecond = 1 }, nodes: 60);
        SimReport report = new ScenarioRunner(s, seed: 3).Run();
        DataReport d = Assert.IsType<DataReport>(report.Data);

        Assert.True(d.ReadsFailed > 0, "one request per second per blob cannot serve 60 nodes within the node's retries");
        Assert.Equal(d.ReadsTotal, d.ReadsDone + d.ReadsFailed);
        Assert.True(d.TimeToAllBytes.Count < s.Nodes, "a node with a failed read never had all its bytes");
        Assert.Contains(Invariants.Check(s, report), b => b.Contains("reads finished", StringComparison.Ordinal));
    }

    [Fact]
    public void One_seed_gives_one_trace_digest_and_the_same_origin_figures_under_throttling()
    {
        Scenario s = Fanout(nodes: 600);
        SimReport a = new ScenarioRunner(s, seed: 9).Run(), b = new ScenarioRunner(s, seed: 9).Run();
        Assert.Equal(a.TraceDigest, b.TraceDigest);
        Assert.Equal(a.Data, b.Data);
        Assert.Equal(a.Origin!.RequestsByKind, b.Origin!.RequestsByKind);
        Assert.Equal(a.Origin.Throttled, b.Origin.Throttled);
        Assert.Equal(a.Origin.PeakRequestsPerSecond, b.Origin.PeakRequestsPerSecond);
    }

    [Fact]
    public void A_scenario_file_sets_the_origins_limits_and_zero_means_unlimited()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, """{ "name": "x", "workload": { "kind": "stampede", "chunks": 10, "files": 2, "origin": { "blob_requests_per_second": 0, "account_egress_gbps": 200 } } }""");
            DataWorkload w = Scenario.Load(path).Workload!;
            Assert.Equal(0, w.Origin.BlobRequestsPerSecond);
            Assert.Equal(200, w.Origin.AccountEgressGbps);
            Assert.Equal(OriginLimits.Azure.AccountRequestsPerSecond, w.Origin.AccountRequestsPerSecond);
            Assert.Equal(5, w.MetadataTtlSeconds);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void An_owner_whose_Blob_is_throttling_is_asked_again_instead_of_each_asker_asking_Blob()
    {
        // An account serving 20 requests a second: owners' HEADs are refused past the node's retries. Askers that then
        // went to the second owner and to Blob themselves sent 1,287 HEADs and 2,988 reads failed; asking the owner
        // again: 927 HEADs, 452 reads failed (seed 5).
        Scenario s = new SimOptions { Nodes = 300, Duration = 30, MetadataViaMesh = true }.Apply(Scenario.Load("model-fanout"));
        s = s with { Workload = s.Workload! with { Origin = OriginLimits.None with { AccountRequestsPerSecond = 20 } } };
        SimReport mesh = new ScenarioRunner(s, seed: 5).Run();
        SimReport direct = new ScenarioRunner(s with { Workload = s.Workload! with { MetadataViaMesh = false } }, seed: 5).Run();
        long heads = mesh.Origin!.RequestsByKind[OriginRequestKind.Head], directHeads = direct.Origin!.RequestsByKind[OriginRequestKind.Head];
        DataReport m = Assert.IsType<DataReport>(mesh.Data), d = Assert.IsType<DataReport>(direct.Data);
        Assert.True(heads < 1_000 && m.ReadsFailed < 1_000,
            $"mesh: {heads} HEADs, {m.ReadsFailed} reads failed (direct: {directHeads} HEADs, {d.ReadsFailed} failed): askers went to Blob themselves");
        Assert.True(heads * 5 < directHeads);
    }
}
