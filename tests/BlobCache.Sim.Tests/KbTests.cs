using BlobCache.Mesh.Origin;
using BlobCache.Sim.Scenarios;

namespace BlobCache.Sim.Tests;

/// <summary>
/// Knowledge-base caching: every node reads small objects with Zipf popularity at a steady rate. Through the mesh Blob
/// hears about each object at most once per region per TTL for its properties, and once per region for its bytes.
/// </summary>
public class KbTests
{
    /// <summary>kb at CI size: 300 nodes in 3 regions, 10 reads/s each (3,000 reads/s, as many as 3,000 nodes at the scenario's 1/s) for 30 s, from 1,000,000 objects.</summary>
    private static Scenario Kb() =>
        new SimOptions { Nodes = 300, Duration = 35 }.Apply(Scenario.Load("kb")) is var s
            ? s with { Workload = s.Workload! with { ReadsPerSecond = 10, ReadSeconds = 30 } }
            : throw new InvalidOperationException();

    [Fact]
    public void Through_the_mesh_Blob_hears_at_most_once_per_object_per_region_per_TTL_for_properties_and_once_for_bytes()
    {
        Scenario s = Kb();
        SimReport report = new ScenarioRunner(s, seed: 3).Run();
        DataReport d = Assert.IsType<DataReport>(report.Data);
        OriginReport o = Assert.IsType<OriginReport>(report.Origin);

        Assert.Equal(d.ReadsTotal, d.ReadsDone);
        Assert.Equal((long)(s.Nodes * s.Workload!.ReadsPerSecond * s.Workload.ReadSeconds), d.ReadsTotal);
        Assert.Equal(0, o.ThrottledTotal);
        // The hottest objects are read all the time: their owner asks Blob once per TTL window, or once per 0.8 TTL
        // when it refreshes ahead (hence the slack of 1.25).
        double windows = s.Workload.ReadSeconds / s.Workload.MetadataTtlSeconds + 1;
        int heads = o.PerObjectPerRegionMax[OriginRequestKind.Head];
        Assert.True(heads <= windows * 1.25, $"{heads} HEADs of one object from one region over {windows:F1} TTL windows");
        Assert.True(heads >= windows / 2, $"the hottest object must be read across the run for the test to mean anything ({heads} HEADs)");
        Assert.Equal(1, o.PerObjectPerRegionMax[OriginRequestKind.GetRange]);
        Assert.True(d.BytesPeer > 0 && d.MetadataPeerRequests > 0);
    }

    [Fact]
    public void A_cold_read_of_a_small_object_is_one_peer_request_for_properties_and_bytes_together()
    {
        Scenario s = Kb();
        SimReport report = new ScenarioRunner(s, seed: 5).Run();
        DataReport d = Assert.IsType<DataReport>(report.Data);
        Assert.Equal(d.ReadsTotal, d.ReadsDone);
        Assert.True(d.ColdReads > d.ReadsTotal / 2, $"only {d.ColdReads} of {d.ReadsTotal} reads were cold: the test would mean little");
        Assert.Equal(1.0, d.PeerRequestsPerColdRead);
        Assert.Equal(1, d.MaxPeerRequestsPerColdRead);
    }

    [Fact]
    public void One_seed_gives_one_trace_digest_for_kb()
    {
        Scenario s = Kb() with { Duration = 12 };
        s = s with { Workload = s.Workload! with { ReadSeconds = 10 } };
        SimReport a = new ScenarioRunner(s, seed: 9).Run(), b = new ScenarioRunner(s, seed: 9).Run();
        Assert.Equal(a.TraceDigest, b.TraceDigest);
        Assert.Equal(a.Data, b.Data);
        Assert.Equal(a.Origin!.RequestsByKind, b.Origin!.RequestsByKind);
    }
}
