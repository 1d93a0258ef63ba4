using BlobCache.Mesh;
using BlobCache.Mesh.Origin;

namespace BlobCache.Mesh.Tests.Origin;

public sealed class OriginBackoffTests
{
    [Fact]
    public void Delays_double_from_the_base_up_to_the_cap_with_twenty_percent_jitter_either_way()
    {
        OriginBackoff b = OriginBackoff.Default;
        long ms = Micros.PerMillisecond;
        Assert.Equal(80 * ms, b.DelayMicros(1, 0));
        Assert.Equal(120 * ms, b.DelayMicros(1, 1));
        Assert.Equal(200 * ms, b.DelayMicros(2, 0.5));
        Assert.Equal(400 * ms, b.DelayMicros(3, 0.5));
        Assert.Equal(800 * ms, b.DelayMicros(4, 0.5));
        Assert.Equal(1600 * ms, b.DelayMicros(5, 0.5));
        Assert.Equal(2000 * ms, b.DelayMicros(6, 0.5)); // 3.2 s, capped
        Assert.Equal(2000 * ms, b.DelayMicros(1000, 0.5)); // no overflow however many retries
    }

    [Fact]
    public void Bad_settings_and_a_retry_number_below_one_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => OriginBackoff.Default.DelayMicros(0, 0.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => new OriginBackoff { MaxDelayMicros = 1 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new OriginBackoff { MaxRetries = -1 }.Validate());
    }
}
