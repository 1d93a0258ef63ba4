using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Hosting;

/// <summary>
/// What a node has built so far, undone in reverse order: each component is pushed right after it is made, so any
/// exit (a normal stop, a signal, a start that fails half-way) disposes exactly what exists, the newest first.
/// </summary>
internal sealed class TeardownStack : IAsyncDisposable
{
    private readonly Stack<(string What, Func<ValueTask> Undo)> _steps = new();

    /// <summary>Where a failing step is reported once there is a logger; before that, standard error.</summary>
    public ILogger? Log { get; set; }

    public T Push<T>(T component) where T : IDisposable
    {
        _steps.Push((typeof(T).Name, () =>
        {
            component.Dispose();
            return ValueTask.CompletedTask;
        }));
        return component;
    }

    public T PushAsync<T>(T component) where T : IAsyncDisposable
    {
        _steps.Push((typeof(T).Name, component.DisposeAsync));
        return component;
    }

    public void Push(string what, Func<ValueTask> undo) => _steps.Push((what, undo));

    /// <summary>Runs every step, newest first; one that fails is reported and the rest still run.</summary>
    public async ValueTask DisposeAsync()
    {
        while (_steps.TryPop(out (string What, Func<ValueTask> Undo) step))
        {
            try
            {
                await step.Undo().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                if (Log is { } log) log.LogError(e, "stopping: {What} failed to close", step.What);
                else Console.Error.WriteLine($"blobcache: stopping: {step.What} failed to close: {e.Message}");
            }
        }
    }
}
