namespace BlobCache.Mesh;

/// <summary>The mesh's clock unit: whole microseconds since an origin the host chooses. Hosts pass time in; the mesh never reads a clock.</summary>
public static class Micros
{
    public const long PerMillisecond = 1_000;
    public const long PerSecond = 1_000_000;

    public static long From(TimeSpan t) => t.Ticks / (TimeSpan.TicksPerMillisecond / PerMillisecond);

    public static TimeSpan ToTimeSpan(long micros) => TimeSpan.FromTicks(micros * (TimeSpan.TicksPerMillisecond / PerMillisecond));

    public static double ToSeconds(long micros) => micros / (double)PerSecond;
}
