using BlobCache.Mesh.Origin;
using BlobCache.Sim.Scenarios;

namespace BlobCache.Sim.Tests;

/// <summary>
/// A training job's start: every node lists the dataset (20 pages, in order) and reads its shard. Through the mesh
/// each page is listed once per region per TTL; with every node asking Blob the listing alone overloads the account.
/// </summary>
public class JobStartTests
{
    /// <summary>
    /// The account at CI size. At 100,000 nodes the direct listing is 2,000,000 LISTs against 20,000/s (100 s of the
    /// account's budget); at 600 nodes it is 12,000, so the account is scaled down to 2,000/s to overload it as
    /// surely (6 s of budget), while the mesh's whole job (60 LISTs, and a HEAD and a GET per node: 1,260) still
    /// fits within one second of it.
    /// </summary>
    private static readonly OriginLimits CiAccount = OriginLimits.Azure with { AccountRequestsPerSecond = 2_000 };

    private static Scenario JobStart(int nodes = 600) =>
        new SimOptions { Nodes = nodes, Duration = 30 }.Apply(Scenario.Load("job-start")) is var s
            ? s with { Workload = s.Workload! with { Origin = CiAccount } }
            : throw new InvalidOperationException();

    [Fact]
    public void Through_the_mesh_each_listing_page_is_listed_once_per_region_per_TTL_and_nothing_is_throttled()
    {
        Scenario s = JobStart();
        SimReport report = new ScenarioRunner(s, seed: 3).Run();
        DataReport d = Assert.IsType<DataReport>(report.Data);
        OriginReport o = Assert.IsType<OriginReport>(report.Origin);

        Assert.Equal(d.ReadsTotal, d.ReadsDone);
        Assert.Equal(s.Nodes, d.TimeToAllBytes.Count);
        Assert.Equal(0, d.ListPagesFailed);
        Assert.Equal(0, o.ThrottledTotal);
        // Windows the job spans, counting the one it starts in; an owner lists again at most once per 0.8 TTL
        // (refresh-ahead in the last fifth), hence the slack of 1.25.
        double windows = d.CompletionSeconds / s.Workload!.MetadataTtlSeconds + 1;
        int lists = o.PerObjectPerRegionMax[OriginRequestKind.List];
        Assert.True(lists >= 1 && lists <= windows * 1.25, $"{lists} LISTs of one page from one region over {windows:F1} TTL windows");
        Assert.True(o.RequestsByKind[OriginRequestKind.List] <= s.Workload.ListPages * s.Regions * windows * 1.25);
        Assert.Equal(1, o.PerObjectPerRegionMax[OriginRequestKind.Head]);
        Assert.Equal(1, o.PerObjectPerRegionMax[OriginRequestKind.GetRange]);
    }

    [Fact]
    public void With_every_node_asking_Blob_directly_the_listing_is_throttled_and_the_mesh_sends_far_fewer_requests()
    {
        Scenario s = JobStart();
        SimReport mesh = new ScenarioRunner(s, seed: 3).Run();
        SimReport direct = new ScenarioRunner(DirectComparison.DirectOf(s), seed: 3).Run();
        var comparison = new DirectComparison(mesh, direct);
        OriginReport o = Assert.IsType<OriginReport>(direct.Origin);

        Assert.Equal(0, direct.Data!.MetadataPeerRequests);
        // Every node lists every page itself: Blob serves each once, or refuses it more often than the node retries.
        Assert.Equal(s.Nodes * s.Workload!.ListPages, o.ServedByKind[OriginRequestKind.List] + direct.Data.ListPagesFailed);
        Assert.True(o.ThrottledByKind[OriginRequestKind.List] > s.Nodes, $"only {o.ThrottledByKind[OriginRequestKind.List]} LISTs throttled");
        Assert.Equal(0, mesh.Origin!.ThrottledTotal);
        Assert.True(comparison.RequestsRatio(OriginRequestKind.List) >= s.Nodes / s.Regions / 1.25, $"direct sent {comparison.RequestsRatio(OriginRequestKind.List):F1}× the LISTs");
        Assert.True(direct.Data.TimeToAllBytes.P99 > mesh.Data!.TimeToAllBytes.P99, "the throttled direct listing must delay the bytes");
        Assert.Contains("\"list\"", comparison.Json());
    }

    [Fact]
    public void One_seed_gives_one_trace_digest_for_a_job_start()
    {
        Scenario s = JobStart(nodes: 300);
        SimReport a = new ScenarioRunner(s, seed: 9).Run(), b = new ScenarioRunner(s, seed: 9).Run();
        Assert.True(a.Data!.MetadataPeerRequests > 0);
        Assert.Equal(a.TraceDigest, b.TraceDigest);
        Assert.Equal(a.Data, b.Data);
    }
}
