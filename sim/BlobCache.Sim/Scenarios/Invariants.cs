using BlobCache.Mesh.Origin;

namespace BlobCache.Sim.Scenarios;

/// <summary>What must hold after a run, whatever the seed: the properties CI asserts on small runs.</summary>
public static class Invariants
{
    /// <summary>A fleet start: every view exact within this long after the last node started.</summary>
    public const double FleetExactSeconds = 120;

    /// <summary>A fleet start: no node serves more than this many times the mean of state transfers.</summary>
    public const double FleetMaxOverMeanTransfers = 10;

    /// <summary>Every broken invariant, in words (empty when all hold).</summary>
    public static List<string> Check(Scenario scenario, SimReport r)
    {
        var broken = new List<string>();
        void Require(bool ok, string what)
        {
            if (!ok) broken.Add(what);
        }
        Require(r.CrashesUndetected == 0, $"{r.CrashesUndetected} of {r.Crashes} crashes were not known everywhere by the end");
        if (scenario.Lifeguard)
            Require(r.FalsePositives == 0, $"{r.FalsePositives} running members were declared dead");
        bool partitionHealed = scenario.Steps.Any(s => s.Action == "heal") || !scenario.Steps.Any(s => s.Action == "partition");
        if (partitionHealed && scenario.Lifeguard)
            Require(r.ViewsExactAtEnd, "not every running view was exact at the end");
        if (r.Detection.Count > 0)
            Require(r.Detection[^1] <= r.SuspicionBoundSeconds, $"slowest detection {r.Detection[^1]:F1} s exceeds the configured bound {r.SuspicionBoundSeconds:F1} s");
        if (r.Fleet is { } f)
        {
            Require(f.AllExactAfterLastStart is >= 0 and <= FleetExactSeconds,
                f.AllExactAfterLastStart < 0 ? $"{f.NeverExact} views were never exact after the last start" : $"the last view became exact {f.AllExactAfterLastStart:F0} s after the last start (target {FleetExactSeconds} s)");
            Require(f.TransfersServedMaxOverMean <= FleetMaxOverMeanTransfers,
                $"one node served {f.TransfersServedMax} state transfers, {f.TransfersServedMaxOverMean:F1}× the mean (target at most {FleetMaxOverMeanTransfers}×)");
        }
        if (r.Data is { } d)
        {
            Require(d.ReadsDone == d.ReadsTotal, $"only {d.ReadsDone} of {d.ReadsTotal} reads finished");
            // A dead owner's copies and evicted chunks must be read again; without either, exactly once.
            // kb and job-start read some of their objects, not every one: see their GETs per object per region below.
            bool readsAll = d.Kind is not ("kb" or "job-start");
            if (d.OwnerTimeouts == 0 && d.Evictions == 0 && readsAll)
                Require(Math.Abs(d.BlobReadsPerChunkPerRegion - 1.0) < 1e-9, $"Blob reads per chunk per region is {d.BlobReadsPerChunkPerRegion:F3}, not 1.0");
            if (!readsAll && d.OwnerTimeouts == 0 && d.Evictions == 0 && scenario.Workload is { ChunksViaMesh: true } && r.Origin is { } o)
                Require(o.PerObjectPerRegionMax[OriginRequestKind.GetRange] <= 1, $"an object was read from Blob {o.PerObjectPerRegionMax[OriginRequestKind.GetRange]} times by one region");
            if (d.Kind == "stampede")
                Require(d.MaxOwnerConcurrency <= d.OwnerConcurrencyLimit, $"a node had {d.MaxOwnerConcurrency} transfers queued (limit {d.OwnerConcurrencyLimit})");
        }
        return broken;
    }
}
