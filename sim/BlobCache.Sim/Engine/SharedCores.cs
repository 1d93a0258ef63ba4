namespace BlobCache.Sim.Engine;

/// <summary>
/// The cores of one machine that simulated processes share, as real nodes, the Blob emulator and the readers share
/// the machine of a calibration run on loopback. A piece of CPU work runs whole on one core, on the core that can
/// start it first; among cores already idle when it is ready, the one idle the shortest time takes it, so a core
/// kept free for nothing is one a later job can still use. Work is placed when it is submitted (the simulator knows
/// what each job costs), not shared out as a kernel would time-slice it: completion times of single jobs differ,
/// the total work the cores get through in a time does not.
/// </summary>
public sealed class SharedCores
{
    private readonly long[] _freeAt;

    public SharedCores(int cores)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(cores, 1);
        _freeAt = new long[cores];
    }

    /// <summary>CPU microseconds placed so far: over a run's length, how many cores it kept busy.</summary>
    public long BusyMicros { get; private set; }

    /// <summary>Runs <paramref name="workMicros"/> of CPU that is ready at <paramref name="ready"/>; returns when it is done.</summary>
    public long Run(long ready, long workMicros)
    {
        int chosen = 0;
        bool idle = _freeAt[0] <= ready;
        for (int i = 1; i < _freeAt.Length; i++)
        {
            bool alsoIdle = _freeAt[i] <= ready;
            bool better = alsoIdle
                ? !idle || _freeAt[i] > _freeAt[chosen] // idle the shortest time
                : !idle && _freeAt[i] < _freeAt[chosen]; // none idle: free the soonest
            if (better) (chosen, idle) = (i, alsoIdle);
        }
        long done = Math.Max(ready, _freeAt[chosen]) + Math.Max(0, workMicros);
        _freeAt[chosen] = done;
        BusyMicros += Math.Max(0, workMicros);
        return done;
    }
}
