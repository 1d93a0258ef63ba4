using System.Globalization;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Calibration;

/// <summary>
/// CPU seconds of what shares the machine in a calibration run: the emulator, the nodes and the readers (this test
/// process). The simulator's host model charges CPU per request and per MiB; these are the figures it is set from,
/// and a run whose CPU over its wall time is near the core count was bounded by the machine, not the routing.
/// </summary>
public readonly record struct HostCpu(double Origin, double Nodes, double Readers)
{
    // This process alone for the readers: the nodes are its children, and ProcessCpu would count them again.
    public static HostCpu Take(int originPid, IEnumerable<int> nodePids) =>
        new(ProcessCpu.Seconds(originPid), nodePids.Sum(ProcessCpu.Seconds), Environment.CpuUsage.TotalTime.TotalSeconds);

    public static HostCpu operator -(HostCpu a, HostCpu b) => new(a.Origin - b.Origin, a.Nodes - b.Nodes, a.Readers - b.Readers);

    public double Total => Origin + Nodes + Readers;

    /// <summary>One line: each part's CPU seconds, and how many cores were busy on average over <paramref name="wallSeconds"/>.</summary>
    public string Describe(double wallSeconds) => string.Create(CultureInfo.InvariantCulture,
        $"CPU s: Blob emulator {Origin:F2}, nodes {Nodes:F2}, readers {Readers:F2}; {Total / wallSeconds:F2} cores busy on average");
}
