using System.Security.Cryptography;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Security;

/// <summary>
/// Re-reads a set of files when their content changes and hands them to a loader. Kubernetes rotates mounted
/// secrets by swapping a symlink in the directory, which a watcher on the file alone misses: so the directories
/// are watched, and a periodic check catches anything the watcher drops (network file systems, missed events).
/// A loader that throws leaves the previous material in force.
/// </summary>
public sealed class WatchedFiles : IDisposable
{
    private readonly string[] _paths;
    private readonly Action<byte[][]> _load;
    private readonly ILogger _logger;
    private readonly string _what;
    private readonly List<FileSystemWatcher> _watchers = [];
    private readonly Timer _timer;
    private readonly Lock _gate = new();
    private byte[] _digest = [];
    private long _reloads, _failures;

    /// <summary>Reads and loads the files once (throwing <see cref="InvalidDataException"/> naming the problem), then watches them.</summary>
    public WatchedFiles(string what, IReadOnlyList<string> paths, Action<byte[][]> load, TimeSpan period, ILogger logger)
    {
        _what = what;
        _paths = paths.Select(Path.GetFullPath).ToArray();
        _load = load;
        _logger = logger;
        byte[][] contents = Read();
        load(contents);
        _digest = Digest(contents);
        foreach (string dir in _paths.Select(p => Path.GetDirectoryName(p)!).Distinct(StringComparer.Ordinal))
        {
            try
            {
                var w = new FileSystemWatcher(dir) { IncludeSubdirectories = false, NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size };
                w.Changed += (_, _) => Check();
                w.Created += (_, _) => Check();
                w.Renamed += (_, _) => Check();
                w.Deleted += (_, _) => Check();
                w.EnableRaisingEvents = true;
                _watchers.Add(w);
            }
            catch (Exception e) when (e is IOException or ArgumentException or PlatformNotSupportedException)
            {
                // inotify watches can run out; the periodic check still reloads.
                logger.LogWarning("{What}: cannot watch {Dir} ({Message}); checking every {Period} s instead", what, dir, e.Message, period.TotalSeconds);
            }
        }
        _timer = new Timer(_ => Check(), null, period, period);
    }

    public long Reloads => Interlocked.Read(ref _reloads);
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Reloads now if the content changed (also what the watcher and the timer call).</summary>
    public void Check()
    {
        lock (_gate)
        {
            byte[][] contents;
            try
            {
                contents = Read();
            }
            catch (InvalidDataException e)
            {
                // Mid-swap a file may be missing for a moment: the next event or tick tries again.
                Interlocked.Increment(ref _failures);
                _logger.LogWarning("{What}: {Message}; keeping the loaded one", _what, e.Message);
                return;
            }
            byte[] digest = Digest(contents);
            if (digest.AsSpan().SequenceEqual(_digest)) return;
            try
            {
                _load(contents);
            }
            catch (InvalidDataException e)
            {
                Interlocked.Increment(ref _failures);
                _digest = digest; // the same bad content is not retried (and logged) on every tick
                _logger.LogWarning("{What}: reload failed: {Message}; keeping the loaded one", _what, e.Message);
                return;
            }
            _digest = digest;
            Interlocked.Increment(ref _reloads);
            _logger.LogInformation("{What}: reloaded from {Files}", _what, string.Join(", ", _paths));
        }
    }

    private byte[][] Read()
    {
        var contents = new byte[_paths.Length][];
        for (int i = 0; i < _paths.Length; i++)
        {
            try
            {
                contents[i] = File.ReadAllBytes(_paths[i]);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new InvalidDataException($"cannot read {_paths[i]}: {e.Message}", e);
            }
        }
        return contents;
    }

    private static byte[] Digest(byte[][] contents)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (byte[] c in contents)
        {
            h.AppendData(BitConverter.GetBytes(c.Length));
            h.AppendData(c);
        }
        return h.GetHashAndReset();
    }

    public void Dispose()
    {
        _timer.Dispose();
        foreach (FileSystemWatcher w in _watchers) w.Dispose();
    }
}
