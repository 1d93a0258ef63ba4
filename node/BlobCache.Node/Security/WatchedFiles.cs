using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobCache.Node.Security;

/// <summary>
/// Re-reads a set of files when their content changes and hands them to a loader: the gossip keyring, the peer TLS
/// files, the endpoint tokens. Kubernetes rotates mounted secrets by swapping a symlink in the directory, which a
/// watcher on the file alone misses: so the directories are watched, and a periodic check catches anything the
/// watcher drops (network file systems, missed events, a swap that keeps the modification time). A loader that
/// throws <see cref="InvalidDataException"/> leaves the previous material in force.
/// </summary>
public sealed class WatchedFiles : IDisposable
{
    // Watcher events come in bursts (a cert and its key written one after the other): read once the burst is over.
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(100);
    private readonly string _what;
    private readonly string[] _paths;
    private readonly Action<byte[][]> _load;
    private readonly Func<string>? _describe;
    private readonly List<FileSystemWatcher> _watchers = [];
    private readonly Lock _gate = new();
    private ILogger _logger;
    private Timer? _timer;
    private TimeSpan _period;
    private byte[] _digest = [], _rejectedDigest = [];
    private long _reloads, _failures;
    private string? _lastError;

    /// <summary>
    /// Reads and loads the files once (throwing <see cref="InvalidDataException"/> naming the problem), then watches
    /// them every <paramref name="period"/> (none: only <see cref="Check"/> reloads until <see cref="Watch"/>).
    /// <paramref name="describe"/> says what is in force after a reload, for the log line.
    /// </summary>
    public WatchedFiles(string what, IReadOnlyList<string> paths, Action<byte[][]> load, TimeSpan? period, ILogger? logger, Func<string>? describe = null)
    {
        _what = what;
        _paths = paths.Select(Path.GetFullPath).ToArray();
        _load = load;
        _describe = describe;
        _logger = logger ?? NullLogger.Instance;
        byte[][] contents = Read();
        load(contents);
        _digest = Digest(contents);
        if (period is { } p) Watch(p, logger);
    }

    public long Reloads => Interlocked.Read(ref _reloads);

    /// <summary>Distinct problems met while reloading (the same bad content or error is counted once).</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Why the files on disk are not in force (null when they are).</summary>
    public string? LastError => Volatile.Read(ref _lastError);

    /// <summary>Starts watching: directory watchers plus a check every <paramref name="period"/>.</summary>
    public void Watch(TimeSpan period, ILogger? logger = null)
    {
        if (_timer is not null) throw new InvalidOperationException($"{_what}: already watched");
        if (logger is not null) _logger = logger;
        _period = period;
        _timer = new Timer(_ => Check(), null, period, period);
        foreach (string dir in _paths.Select(p => Path.GetDirectoryName(p)!).Distinct(StringComparer.Ordinal))
        {
            try
            {
                var w = new FileSystemWatcher(dir)
                {
                    IncludeSubdirectories = false,
                    NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
                };
                w.Changed += (_, _) => Soon();
                w.Created += (_, _) => Soon();
                w.Renamed += (_, _) => Soon();
                w.Deleted += (_, _) => Soon();
                w.EnableRaisingEvents = true;
                _watchers.Add(w);
            }
            catch (Exception e) when (e is IOException or ArgumentException or PlatformNotSupportedException or UnauthorizedAccessException)
            {
                // inotify watches can run out; the periodic check still reloads.
                _logger.LogWarning("{What}: cannot watch {Dir} ({Message}); checking every {Period} s instead", _what, dir, e.Message, period.TotalSeconds);
            }
        }
    }

    private void Soon() => _timer?.Change(Debounce, _period);

    /// <summary>Reloads now if the content changed (also what the watcher and the timer call); true when new content was applied.</summary>
    public bool Check()
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
                return Fail(e.Message);
            }
            byte[] digest = Digest(contents);
            if (digest.AsSpan().SequenceEqual(_digest))
            {
                // What is in force is on disk again.
                Volatile.Write(ref _lastError, null);
                _rejectedDigest = [];
                return false;
            }
            if (digest.AsSpan().SequenceEqual(_rejectedDigest)) return false; // already reported
            try
            {
                _load(contents);
            }
            catch (InvalidDataException e)
            {
                _rejectedDigest = digest;
                return Fail(e.Message);
            }
            _digest = digest;
            _rejectedDigest = [];
            Volatile.Write(ref _lastError, null);
            Interlocked.Increment(ref _reloads);
            _logger.LogInformation("{What}: reloaded from {Files}{Now}", _what, string.Join(", ", _paths), _describe is null ? "" : $": {_describe()}");
            return true;
        }
    }

    private bool Fail(string error)
    {
        // One log line and one count per distinct problem, not one per check.
        if (error == _lastError) return false;
        Interlocked.Increment(ref _failures);
        Volatile.Write(ref _lastError, error);
        _logger.LogWarning("{What}: cannot reload: {Message}; keeping the loaded one", _what, error);
        return false;
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
        _timer?.Dispose();
        foreach (FileSystemWatcher w in _watchers) w.Dispose();
    }
}
