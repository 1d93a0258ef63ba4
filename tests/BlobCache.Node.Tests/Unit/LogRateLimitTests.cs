using BlobCache.Node.Telemetry;

namespace BlobCache.Node.Tests.Unit;

public sealed class LogRateLimitTests
{
    [Fact]
    public void Lines_over_the_limit_in_a_second_are_dropped_and_counted_into_the_next_allowed_line()
    {
        long now = 0;
        var limit = new LogRateLimit(3, () => now);
        for (int i = 0; i < 3; i++)
        {
            Assert.True(limit.TryEnter(out long none));
            Assert.Equal(0, none);
        }
        for (int i = 0; i < 1000; i++) Assert.False(limit.TryEnter(out _));
        now += TimeSpan.TicksPerSecond - 1;
        Assert.False(limit.TryEnter(out _));
        now += 1;
        Assert.True(limit.TryEnter(out long suppressed));
        Assert.Equal(1001, suppressed);
        Assert.True(limit.TryEnter(out long after));
        Assert.Equal(0, after);
    }
}
