namespace BlobCache.Node.Telemetry;

/// <summary>
/// Lets at most a few log lines through per interval and counts the rest; the count is reported in one summary line
/// when the next line is let through or when the interval ends, whichever comes first. For lines an outsider can cause
/// at will (one per malformed packet): a flood then costs a few lines a minute, not one line per packet, and the
/// summary still says how many were held back.
/// </summary>
public sealed class LogRateLimiter : IDisposable
{
    private readonly int _linesPerInterval;
    private readonly TimeSpan _interval;
    private readonly Action<long> _summary;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly ITimer _timer;
    private long _intervalStart;
    private int _written;
    private long _suppressed;
    private bool _timerArmed;

    /// <param name="summary">Writes the summary line for the given number of lines held back.</param>
    public LogRateLimiter(int linesPerInterval, TimeSpan interval, Action<long> summary, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(linesPerInterval, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        _linesPerInterval = linesPerInterval;
        _interval = interval;
        _summary = summary;
        _time = time ?? TimeProvider.System;
        _intervalStart = _time.GetTimestamp();
        _timer = _time.CreateTimer(static state => ((LogRateLimiter)state!).Flush(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>True when the caller may write its line now (after the summary of the last interval, if one was due).</summary>
    public bool TryAcquire()
    {
        long due = 0;
        lock (_gate)
        {
            long now = _time.GetTimestamp();
            TimeSpan elapsed = _time.GetElapsedTime(_intervalStart, now);
            if (elapsed >= _interval)
            {
                due = _suppressed;
                _suppressed = 0;
                _written = 0;
                _intervalStart = now;
                elapsed = TimeSpan.Zero;
            }
            if (_written >= _linesPerInterval)
            {
                _suppressed++;
                if (!_timerArmed)
                {
                    _timerArmed = true;
                    _timer.Change(_interval - elapsed, Timeout.InfiniteTimeSpan);
                }
                return false;
            }
            _written++;
        }
        if (due > 0) _summary(due);
        return true;
    }

    // The interval in which lines were held back has ended and no line came since to carry the summary.
    private void Flush()
    {
        long due;
        lock (_gate)
        {
            due = _suppressed;
            _suppressed = 0;
            _timerArmed = false;
        }
        if (due > 0) _summary(due);
    }

    public void Dispose() => _timer.Dispose();
}
