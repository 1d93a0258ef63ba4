using BlobCache.Sim.Engine;
using BlobCache.Sim.Scenarios;

namespace BlobCache.Sim.Tests;

/// <summary>
/// A calibration run's one machine: nodes, origin and readers share its cores, so a workload takes at least the CPU
/// it costs over the cores there are, which is what the runs on real processes show (they keep two cores busy).
/// </summary>
public class SharedHostTests
{
    [Fact]
    public void Work_ready_together_runs_on_every_core_at_once_and_the_rest_waits_for_the_first_free_core()
    {
        var cores = new SharedCores(2);
        Assert.Equal(100, cores.Run(0, 100));
        Assert.Equal(50, cores.Run(0, 50));
        Assert.Equal(80, cores.Run(0, 30)); // after the 50, not the 100
        Assert.Equal(180, cores.Run(0, 100));
        Assert.Equal(280, cores.BusyMicros);
    }

    [Fact]
    public void Work_ready_later_takes_the_core_idle_the_shortest_time_so_the_other_stays_free_for_earlier_work()
    {
        var cores = new SharedCores(2);
        cores.Run(0, 10);  // core A free at 10
        cores.Run(0, 90);  // core B free at 90
        Assert.Equal(150, cores.Run(100, 50)); // both idle at 100: B, idle since 90, takes it
        Assert.Equal(30, cores.Run(20, 10));   // A is still free from 10
    }

    [Theory]
    [InlineData("epoch", 3)]
    [InlineData("stampede", 6)]
    public void A_workload_on_a_shared_host_takes_at_least_its_CPU_over_the_cores_and_routes_as_without_one(string kind, int nodes)
    {
        Scenario alone = Calibration(kind, nodes, host: null), shared = Calibration(kind, nodes, new SharedHost
        {
            Cores = 2, OriginRequestMs = 3.4, OriginMsPerMib = 4, NodeRequestMs = 0.5, NodeMsPerMib = 3, ReaderMsPerMib = 4,
        });
        DataReport a = new ScenarioRunner(alone, seed: 1).Run().Data!, s = new ScenarioRunner(shared, seed: 1).Run().Data!;

        Assert.Equal(s.ReadsTotal, s.ReadsDone);
        Assert.Equal(a.BlobGets, s.BlobGets);
        Assert.True(double.IsNaN(a.HostCoresBusy));
        // Every byte a reader gets costs its node and itself CPU; the origin's GETs and every peer transfer cost more.
        long readMib = (s.BytesLocal + s.BytesPeer + s.BytesPeerRemoteRegion + s.BytesBlob) >> 20;
        double floorSeconds = readMib * (3 + 4) / 1000.0 / 2;
        Assert.True(s.CompletionSeconds >= floorSeconds, $"{s.CompletionSeconds:F2} s on a shared host, below the {floorSeconds:F2} s its readers' CPU alone takes on two cores");
        Assert.True(s.CompletionSeconds > a.CompletionSeconds, $"{s.CompletionSeconds:F2} s shared against {a.CompletionSeconds:F2} s on a machine each");
        Assert.InRange(s.HostCoresBusy, 1.0, 2.0);
    }

    private static Scenario Calibration(string kind, int nodes, SharedHost? host)
    {
        Scenario s = new SimOptions { Nodes = nodes, Regions = 1, Duration = 60 }.Apply(Scenario.Load(kind));
        return s with
        {
            Workload = s.Workload! with
            {
                Chunks = kind == "epoch" ? 101 : 16, ChunkMib = kind == "epoch" ? 1 : 4, ReaderConcurrency = kind == "epoch" ? 8 : 4,
                OwnerConcurrency = kind == "epoch" ? 8 : 1, NicGbps = 13.4, BlobGbps = 13.4, BlobLatencyMs = 0.2, Files = 1, CacheChunks = 0,
                Origin = Mesh.Origin.OriginLimits.None, Host = host,
            },
        };
    }
}
