using System.Diagnostics;

namespace BlobCache.Testing;

/// <summary>Waits on a condition with a deadline instead of sleeping and hoping.</summary>
public static class Wait
{
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan deadline, string what)
    {
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
            await Task.Delay(50).ConfigureAwait(false);
        }
        throw new TimeoutException($"timed out after {deadline.TotalSeconds:F0} s waiting for {what}" + (last is null ? "" : $" (last error: {last.Message})"));
    }
}
