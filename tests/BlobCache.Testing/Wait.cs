using System.Diagnostics;

namespace BlobCache.Testing;

/// <summary>Waits on a condition with a deadline instead of sleeping and hoping.</summary>
public static class Wait
{
    /// <summary>Asks <paramref name="condition"/> every <paramref name="every"/> (50 ms unless given) until it holds or the deadline passes.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan deadline, string what, TimeSpan? every = null)
    {
        TimeSpan pause = every ?? TimeSpan.FromMilliseconds(50);
        var sw = Stopwatch.StartNew();
        Exception? last = null;
        while (sw.Elapsed < deadline)
        {
            try
            {
                if (await condition().ConfigureAwait(false)) return;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException or System.Net.Sockets.SocketException)
            {
                last = e;
            }
            await Task.Delay(pause).ConfigureAwait(false);
        }
        throw new TimeoutException($"timed out after {deadline.TotalSeconds:F0} s waiting for {what}" + (last is null ? "" : $" (last error: {last.Message})"));
    }
}
