using BlobCache.Node.Telemetry;

namespace BlobCache.Node.Tests.Unit;

public sealed class LogRateLimiterTests
{
    /// <summary>A clock the test moves by hand, with the one-shot timers the limiter arms.</summary>
    private sealed class ManualTime : TimeProvider
    {
        private readonly List<ManualTimer> _timers = [];
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => _ticks;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = new ManualTimer(this, callback, state);
            timer.Change(dueTime, period);
            _timers.Add(timer);
            return timer;
        }

        /// <param name="fireTimers">False: the timers are late (a busy thread pool) and fire at the next advance.</param>
        public void Advance(TimeSpan by, bool fireTimers = true)
        {
            _ticks += by.Ticks;
            if (!fireTimers) return;
            foreach (ManualTimer t in _timers.ToArray()) t.FireIfDue(_ticks);
        }

        private sealed class ManualTimer(ManualTime time, TimerCallback callback, object? state) : ITimer
        {
            private long _due = long.MaxValue;

            public bool Change(TimeSpan dueTime, TimeSpan period)
            {
                _due = dueTime == Timeout.InfiniteTimeSpan ? long.MaxValue : time._ticks + dueTime.Ticks;
                return true;
            }

            public void FireIfDue(long now)
            {
                if (now < _due) return;
                _due = long.MaxValue;
                callback(state);
            }

            public void Dispose() => _due = long.MaxValue;
            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }

    [Fact]
    public void The_first_lines_of_an_interval_pass_the_rest_are_reported_in_one_summary_when_the_interval_ends()
    {
        var time = new ManualTime();
        var summaries = new List<long>();
        using var limiter = new LogRateLimiter(3, TimeSpan.FromMinutes(1), summaries.Add, time);
        int written = Enumerable.Range(0, 1000).Count(_ => limiter.TryAcquire());
        Assert.Equal(3, written);
        Assert.Empty(summaries);
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.Empty(summaries);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal([997L], summaries);
        // Nothing held back since: no second summary.
        time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal([997L], summaries);
    }

    [Fact]
    public void A_line_in_the_next_interval_passes_after_the_summary_of_the_lines_held_back_before_it()
    {
        var time = new ManualTime();
        var events = new List<string>();
        using var limiter = new LogRateLimiter(2, TimeSpan.FromSeconds(10), n => events.Add($"suppressed {n}"), time);
        for (int i = 0; i < 7; i++)
        {
            if (limiter.TryAcquire()) events.Add("line");
        }
        Assert.Equal(["line", "line"], events);
        // The next interval has begun before the timer fired: its first line carries the summary, once.
        time.Advance(TimeSpan.FromSeconds(10), fireTimers: false);
        if (limiter.TryAcquire()) events.Add("line");
        time.Advance(TimeSpan.Zero);
        Assert.Equal(["line", "line", "suppressed 5", "line"], events);
    }
}
