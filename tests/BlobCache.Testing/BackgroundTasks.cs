using System.Collections.Concurrent;
using System.Net.Sockets;

namespace BlobCache.Testing;

/// <summary>
/// The tasks a test server (proxy, relay) runs beside its caller: its accept loop, one per connection, delayed sends.
/// Stopping waits for them all, so a test never leaves one running into the next.
/// </summary>
public sealed class BackgroundTasks
{
    private readonly ConcurrentDictionary<Task, byte> _tasks = new();

    public void Track(Task task)
    {
        _tasks[task] = 0;
        _ = task.ContinueWith(t => _tasks.TryRemove(t, out _), TaskScheduler.Default);
    }

    /// <summary>Accepts until <paramref name="stop"/> (or the listener stops) and serves each connection as a tracked task.</summary>
    public async Task AcceptAllAsync(TcpListener listener, Func<Socket, Task> serve, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptSocketAsync(stop).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            Track(serve(client));
        }
    }

    /// <summary>Waits for every tracked task, at most <paramref name="deadline"/> (one stuck task must not hang the test run).</summary>
    public async Task WaitAsync(TimeSpan deadline)
    {
        try
        {
            await Task.WhenAll(_tasks.Keys).WaitAsync(deadline).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
    }
}
