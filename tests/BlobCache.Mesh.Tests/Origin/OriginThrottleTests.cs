using BlobCache.Mesh;
using BlobCache.Mesh.Origin;

namespace BlobCache.Mesh.Tests.Origin;

public sealed class OriginThrottleTests
{
    private const long Ms = Micros.PerMillisecond;

    [Fact]
    public void A_blob_gets_its_burst_then_its_rate_and_a_refused_request_takes_nothing()
    {
        var t = new OriginThrottle(new OriginLimits { BlobRequestsPerSecond = 10, AccountRequestsPerSecond = 0, AccountEgressGbps = 0 });
        for (int i = 0; i < 10; i++) Assert.Equal(OriginVerdict.Served, t.Admit(0, OriginRequestKind.GetRange, 42, 0));
        for (int i = 0; i < 5; i++) Assert.Equal(OriginVerdict.BlobRequests, t.Admit(0, OriginRequestKind.GetRange, 42, 0));
        // 100 ms at 10/s is one request: the five refusals did not use it up.
        Assert.Equal(OriginVerdict.Served, t.Admit(100 * Ms, OriginRequestKind.Head, 42, 0));
        Assert.Equal(OriginVerdict.BlobRequests, t.Admit(100 * Ms, OriginRequestKind.Head, 42, 0));
        Assert.Equal(OriginVerdict.Served, t.Admit(0 + 100 * Ms, OriginRequestKind.GetRange, 43, 0)); // another blob has its own budget
        Assert.Equal(10, t.Served(OriginRequestKind.GetRange) - 1);
        Assert.Equal(1, t.Served(OriginRequestKind.Head));
        Assert.Equal(6, t.Refused(OriginVerdict.BlobRequests));
    }

    [Fact]
    public void The_account_limit_covers_every_blob_and_every_kind_together()
    {
        var t = new OriginThrottle(new OriginLimits { AccountRequestsPerSecond = 5, BlobRequestsPerSecond = 500, AccountEgressGbps = 0 });
        for (ulong blob = 1; blob <= 5; blob++) Assert.Equal(OriginVerdict.Served, t.Admit(0, OriginRequestKind.GetRange, blob, 0));
        Assert.Equal(OriginVerdict.AccountRequests, t.Admit(0, OriginRequestKind.List, 0, 0));
        Assert.Equal(OriginVerdict.AccountRequests, t.Admit(0, OriginRequestKind.GetRange, 99, 0));
        Assert.Equal(OriginVerdict.Served, t.Admit(200 * Ms, OriginRequestKind.List, 0, 0));
    }

    [Fact]
    public void Egress_lets_one_response_go_into_debt_then_refuses_until_the_debt_is_repaid()
    {
        // 8 Gbps is 10^9 bytes a second; the burst holds one second of it.
        var t = new OriginThrottle(new OriginLimits { AccountEgressGbps = 8, AccountRequestsPerSecond = 0, BlobRequestsPerSecond = 0 });
        Assert.Equal(OriginVerdict.Served, t.Admit(0, OriginRequestKind.GetRange, 1, 2_000_000_000));
        Assert.Equal(OriginVerdict.AccountEgress, t.Admit(0, OriginRequestKind.GetRange, 2, 1));
        Assert.Equal(OriginVerdict.AccountEgress, t.Admit(1000 * Ms, OriginRequestKind.GetRange, 2, 1)); // the debt is exactly repaid: nothing left
        Assert.Equal(OriginVerdict.Served, t.Admit(1001 * Ms, OriginRequestKind.GetRange, 2, 1));
    }

    [Fact]
    public void Blobs_idle_for_a_whole_burst_window_are_forgotten_so_memory_follows_recent_blobs_only()
    {
        var t = new OriginThrottle(new OriginLimits { BlobRequestsPerSecond = 500, AccountRequestsPerSecond = 0 });
        for (ulong blob = 1; blob <= 10_000; blob++) t.Admit(0, OriginRequestKind.Head, blob, 0);
        Assert.Equal(10_000, t.TrackedBlobs);
        // Pruned as the table grows, not on every request: the 10,000 idle ones go once the new ones fill it up.
        for (ulong blob = 20_001; blob <= 40_000; blob++) t.Admit(2 * Micros.PerSecond, OriginRequestKind.Head, blob, 0);
        Assert.InRange(t.TrackedBlobs, 1, 20_000);
        // A forgotten blob starts again with a full budget, as it would have had anyway.
        for (int i = 0; i < 500; i++) Assert.Equal(OriginVerdict.Served, t.Admit(2 * Micros.PerSecond, OriginRequestKind.GetRange, 1, 0));
    }

    [Fact]
    public void No_limits_serve_everything_and_the_peak_second_is_counted()
    {
        var t = new OriginThrottle(OriginLimits.None);
        for (int i = 0; i < 100_000; i++) Assert.Equal(OriginVerdict.Served, t.Admit(i * 10L, OriginRequestKind.GetRange, 7, 4 << 20));
        Assert.Equal(100_000, t.Served(OriginRequestKind.GetRange));
        Assert.Equal(0, t.RefusedTotal);
        Assert.Equal(100_000, t.PeakRequestsPerSecond); // all within the first virtual second (10 µs apart)
    }

    [Fact]
    public void Published_targets_are_the_default()
    {
        Assert.Equal(20_000, OriginLimits.Azure.AccountRequestsPerSecond);
        Assert.Equal(500, OriginLimits.Azure.BlobRequestsPerSecond);
        Assert.Equal(50, OriginLimits.Azure.AccountEgressGbps);
        Assert.Throws<ArgumentOutOfRangeException>(() => new OriginThrottle(new OriginLimits { BlobRequestsPerSecond = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new OriginThrottle(new OriginLimits { BurstSeconds = 0 }));
    }
}
