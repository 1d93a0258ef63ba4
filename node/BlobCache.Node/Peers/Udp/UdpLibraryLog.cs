using System.Globalization;
using BlobCache.Node.Telemetry;
using LiteNetLib;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Peers.Udp;

/// <summary>
/// LiteNetLib's own log (<see cref="NetDebug"/>, process-wide; without a logger it prints each line to stdout, one per
/// malformed datagram) routed through the node's logger at most <see cref="LinesPerInterval"/> lines a minute, the
/// rest summed up in one line. The datagrams it reports discarding are counted: they are dropped frames of the UDP
/// chunk transport like those our own decoder refuses, but LiteNetLib tells of them only in its log.
/// </summary>
public sealed class UdpLibraryLog : INetLogger, IDisposable
{
    public const int LinesPerInterval = 10;
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    // What LiteNetLib 2.x logs when it throws a received datagram away (a bad header or size, a broken ack or MTU
    // probe). UdpFloodTests pins them: a version that words them differently fails there.
    private static readonly string[] DropReports =
    [
        "[NM] DataReceived: bad!", "[NM] DataReceived size: bad!", "[AC] Invalid incoming data", "[MTU] Broken packet",
    ];

    private readonly ILogger _logger;
    private readonly LogRateLimiter _limiter;
    private long _droppedDatagrams;

    private UdpLibraryLog(ILogger logger)
    {
        _logger = logger;
        _limiter = new LogRateLimiter(LinesPerInterval, Interval,
            n => _logger.LogWarning("udp library: suppressed {Count} more lines in the last {Seconds:F0} s", n, Interval.TotalSeconds));
    }

    /// <summary>Datagrams LiteNetLib discarded as malformed, on any UDP chunk socket of this process.</summary>
    public long DroppedDatagrams => Interlocked.Read(ref _droppedDatagrams);

    /// <summary>Makes this the process's LiteNetLib logger (there is one for the whole process).</summary>
    public static UdpLibraryLog Install(ILogger logger)
    {
        var log = new UdpLibraryLog(logger);
        NetDebug.Logger = log;
        return log;
    }

    public void WriteNet(NetLogLevel level, string str, params object[] args)
    {
        foreach (string report in DropReports)
        {
            if (str.StartsWith(report, StringComparison.Ordinal))
            {
                Interlocked.Increment(ref _droppedDatagrams);
                break;
            }
        }
        if (!_limiter.TryAcquire()) return;
        string line = args is { Length: > 0 } ? string.Format(CultureInfo.InvariantCulture, str, args) : str;
        // The library's "errors" are what a peer or the network did to it, not faults of this node.
        _logger.Log(level is NetLogLevel.Error or NetLogLevel.Warning ? LogLevel.Warning : LogLevel.Debug, "udp library: {Line}", line);
    }

    public void Dispose()
    {
        if (ReferenceEquals(NetDebug.Logger, this)) NetDebug.Logger = null;
        _limiter.Dispose();
    }
}
