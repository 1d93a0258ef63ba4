using System.Diagnostics;

namespace BlobCache.Node.Reading;

/// <summary>The clock the node passes to the mesh's routing state machines: monotonic microseconds (<see cref="Mesh.Micros"/>).</summary>
internal static class RouteClock
{
    public static long Now => (long)Stopwatch.GetElapsedTime(0).TotalMicroseconds;
}
