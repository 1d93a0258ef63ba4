using BlobCache.Mesh.Origin;
using BlobCache.Mesh.Reading;
using BlobCache.Sim.Scenarios;

namespace BlobCache.Sim.Tests;

/// <summary>
/// Blob properties through the mesh, as the node's <see cref="MetadataRoute"/> routes them: Blob hears once per file
/// per region per TTL, deputies bound what one node serves about a hot key, a dead owner costs one deadline.
/// </summary>
public class MetadataTests
{
    /// <summary>model-fanout at CI size: 600 nodes in 3 regions read a 50-file checkpoint, with an unlimited origin so that only routing shapes the counts.</summary>
    private static Scenario Fanout(bool viaMesh, double ttlSeconds = 5, int nodes = 600)
    {
        Scenario s = new SimOptions { Nodes = nodes, Duration = 20, MetadataViaMesh = viaMesh }.Apply(Scenario.Load("model-fanout"));
        return s with { Workload = s.Workload! with { Origin = OriginLimits.None, MetadataTtlSeconds = ttlSeconds } };
    }

    /// <summary>One hot blob read by every node of one region of <paramref name="nodes"/>: more than 256, so readers ask their bucket's deputy.</summary>
    private static Scenario HotBlobInOneRegion(int nodes)
    {
        Scenario s = new SimOptions { Nodes = nodes, Regions = 1, Duration = 10 }.Apply(Scenario.Load("model-fanout"));
        return s with { Workload = s.Workload! with { Chunks = 2, Files = 1, Origin = OriginLimits.None } };
    }

    [Fact]
    public void With_metadata_through_the_mesh_Blob_hears_about_one_HEAD_per_file_per_region_per_TTL()
    {
        // One blob read for several TTLs (slow NICs), so that its properties expire and are asked again.
        const double ttl = 1;
        Scenario s = Fanout(viaMesh: true, ttl);
        s = s with { Workload = s.Workload! with { Files = 1, NicGbps = 2.5 } };
        SimReport report = new ScenarioRunner(s, seed: 3).Run();
        DataReport d = Assert.IsType<DataReport>(report.Data);
        OriginReport o = Assert.IsType<OriginReport>(report.Origin);

        Assert.Equal(d.ReadsTotal, d.ReadsDone);
        Assert.True(d.MetadataViaMesh);
        Assert.True(d.MetadataPeerRequests > 0);
        // Windows the read spans, counting the one it starts in. Only the key's owner asks Blob, each time its entry
        // expired or, refreshing ahead, once it was in the last fifth of its TTL: so at most once per 0.8 TTL.
        double windows = d.CompletionSeconds / ttl + 1;
        int heads = o.PerObjectPerRegionMax[OriginRequestKind.Head];
        Assert.True(heads <= windows * 1.25, $"{heads} HEADs of one file from one region over {windows:F1} TTL windows");
        // An answer is kept until Blob gave it plus the TTL, however long it took to come: no read goes on with
        // properties older than the TTL and the last peer's latency.
        Assert.InRange(d.MetadataMaxAgeSeconds, 0, ttl + 0.05);
        Assert.True(windows >= 3 && heads >= 2, $"the read ({d.CompletionSeconds:F1} s) must outlast the TTL for the test to mean anything");
    }

    [Fact]
    public void With_metadata_direct_every_node_asks_Blob_for_each_file()
    {
        Scenario s = Fanout(viaMesh: false);
        SimReport report = new ScenarioRunner(s, seed: 3).Run();
        DataReport d = Assert.IsType<DataReport>(report.Data);
        OriginReport o = Assert.IsType<OriginReport>(report.Origin);

        Assert.Equal(d.ReadsTotal, d.ReadsDone);
        Assert.False(d.MetadataViaMesh);
        Assert.Equal(0, d.MetadataPeerRequests);
        Assert.Equal(s.Nodes * s.Workload!.Files, o.RequestsByKind[OriginRequestKind.Head]);
    }

    [Fact]
    public void In_a_region_of_2000_a_hot_blobs_askers_are_spread_over_deputies_so_no_node_serves_more_than_a_bucket()
    {
        const int nodes = 2_000;
        Scenario s = HotBlobInOneRegion(nodes);
        SimReport report = new ScenarioRunner(s, seed: 5).Run();
        DataReport d = Assert.IsType<DataReport>(report.Data);
        OriginReport o = Assert.IsType<OriginReport>(report.Origin);

        Assert.Equal(d.ReadsTotal, d.ReadsDone);
        Assert.Equal(1, o.RequestsByKind[OriginRequestKind.Head]);
        var settings = new MetadataRouting();
        int buckets = MetadataRoute.BucketsFor(settings, nodes);
        // Every node starts at once, so a TTL's asks arrive within one second: a deputy serves its bucket (about
        // MembersPerOwner), the owner its deputies and its own bucket. Without deputies the owner serves all 2,000.
        int bound = Math.Max(settings.MembersPerOwner, buckets) * 3 / 2;
        Assert.True(d.MetadataMaxRequestsPerSecondAtOneNode <= bound, $"one node served {d.MetadataMaxRequestsPerSecondAtOneNode} requests in a second (bound {bound})");
        Assert.True(d.MetadataPeerRequests >= nodes - 1, "every node but the owner asks a peer");
    }

    [Fact]
    public void A_dead_owner_costs_its_askers_one_deadline_and_every_read_still_completes()
    {
        // One blob read by 200 nodes of one region; a tenth crash just before reading starts (t=1 s), long before
        // anyone notices. With seed 9 the blob's owner is among them (its second owner is not).
        Scenario s = HotBlobInOneRegion(200);
        s = s with { Duration = 20, Workload = s.Workload! with { Chunks = 8, PeerTimeoutMs = 1_000 } };
        Scenario crashed = s with { Steps = [new ScenarioStep { At = 0, Action = "crash", Fraction = 0.10 }] };
        DataReport before = Assert.IsType<DataReport>(new ScenarioRunner(s, seed: 9).Run().Data);
        SimReport report = new ScenarioRunner(crashed, seed: 9).Run();
        DataReport d = Assert.IsType<DataReport>(report.Data);
        OriginReport o = Assert.IsType<OriginReport>(report.Origin);

        Assert.Equal(d.ReadsTotal, d.ReadsDone);
        Assert.Equal(0, before.MetadataTimeouts);
        // Every running reader asked the dead owner once, waited its deadline, and went on to the second owner,
        // which asked Blob for the region in its place.
        int running = d.TimeToAllBytes.Count;
        Assert.Equal(running, d.MetadataTimeouts);
        Assert.Equal(1, o.RequestsByKind[OriginRequestKind.Head]);
        double deadline = s.Workload.PeerTimeoutMs / 1000.0;
        Assert.InRange(d.TimeToAllBytes.Max, deadline, before.TimeToAllBytes.Max + deadline + 0.2);
    }

    [Fact]
    public void One_seed_gives_one_trace_digest_with_metadata_through_the_mesh()
    {
        Scenario s = HotBlobInOneRegion(600);
        SimReport a = new ScenarioRunner(s, seed: 9).Run(), b = new ScenarioRunner(s, seed: 9).Run();
        Assert.True(a.Data!.MetadataPeerRequests > 0);
        Assert.Equal(a.TraceDigest, b.TraceDigest);
        Assert.Equal(a.Data, b.Data);
    }
}
