using BlobCache.Node.Hosting;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Faults;

/// <summary>Polls every node's view until stopped; a member seen as anything but alive is a (false) suspicion or death.</summary>
public sealed class MembershipWatch : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _polling;
    private int _polls, _notAlive, _dead;

    public MembershipWatch(IReadOnlyList<NodeProcess> nodes) => _polling = Task.Run(async () =>
    {
        while (!_stop.IsCancellationRequested)
        {
            foreach (NodeProcess n in nodes)
            {
                try
                {
                    StatusReport s = await n.StatusAsync();
                    _polls++;
                    _notAlive += s.Members.Count(m => m.State != "alive");
                    _dead += s.Members.Count(m => m.State is "dead" or "left");
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                }
            }
            try
            {
                await Task.Delay(250, _stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
    });

    public string Figures => $"membership polled {_polls} times: {_notAlive} non-alive sightings, {_dead} dead";
    public int Dead => _dead;

    /// <summary>Lines in the nodes' logs announcing a member event (Suspect, Dead, ...), as the gossip host writes them.</summary>
    public static int Logged(IEnumerable<NodeProcess> nodes, string memberEvent) =>
        nodes.Sum(n => n.Log.Split('\n').Count(l => l.Contains($" {memberEvent} ", StringComparison.Ordinal)));

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _polling;
        _stop.Dispose();
    }
}
