using System.Diagnostics;

namespace BlobCache.Node.Telemetry;

/// <summary>
/// At most <c>perSecond</c> log lines in each one-second window, so a flood of one kind of event cannot fill a
/// disk; the lines refused are counted and handed to the next line allowed, to be reported as "suppressed N".
/// </summary>
public sealed class LogRateLimit(int perSecond, Func<long>? clock = null)
{
    private readonly Func<long> _clock = clock ?? Stopwatch.GetTimestamp;
    private readonly long _window = clock is null ? Stopwatch.Frequency : TimeSpan.TicksPerSecond;
    private readonly Lock _lock = new();
    private long _windowStart = long.MinValue;
    private int _inWindow;
    private long _suppressed;

    /// <summary>True when a line may be written now; <paramref name="suppressed"/> is how many were refused since the last one allowed.</summary>
    public bool TryEnter(out long suppressed)
    {
        long now = _clock();
        lock (_lock)
        {
            if (_windowStart == long.MinValue || now - _windowStart >= _window)
            {
                _windowStart = now;
                _inWindow = 0;
            }
            if (_inWindow >= perSecond)
            {
                _suppressed++;
                suppressed = 0;
                return false;
            }
            _inWindow++;
            suppressed = _suppressed;
            _suppressed = 0;
            return true;
        }
    }
}
