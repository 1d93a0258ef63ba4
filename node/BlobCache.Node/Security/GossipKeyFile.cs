using BlobCache.Node.Config;
using BlobCache.Protocol.Security;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Security;

/// <summary>
/// The keyring of <c>--gossip-key-file</c>, re-read when the file changes, so keys rotate without a restart: a
/// <see cref="FileSystemWatcher"/> on its directory for a prompt reload, and a periodic check of the content as a
/// fallback (watchers miss some changes: Kubernetes updates a mounted Secret by swapping a symlink to a new
/// directory, which keeps the file's own path and can keep its modification time). A changed file that does not
/// parse keeps the ring in use and is logged and counted.
/// </summary>
public sealed class GossipKeyFile : IDisposable
{
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(100);
    private readonly Lock _gate = new();
    private volatile Keyring _current;
    private string _text;
    private ILogger? _logger;
    private FileSystemWatcher? _watcher;
    private Timer? _timer;
    private TimeSpan _period;
    private long _reloads, _reloadErrors;
    private string? _lastError;

    private GossipKeyFile(string path, string text, Keyring ring)
    {
        Path = path;
        _text = text;
        _current = ring;
    }

    public string Path { get; }

    /// <summary>The ring in use; swapped whole when the file changes.</summary>
    public Keyring Current => _current;

    /// <summary>Changes of the file that were applied.</summary>
    public long Reloads => Interlocked.Read(ref _reloads);

    /// <summary>Changes of the file that did not parse (the previous ring stayed in use).</summary>
    public long ReloadErrors => Interlocked.Read(ref _reloadErrors);

    public string? LastError => Volatile.Read(ref _lastError);

    /// <summary>Reads and parses the file; throws <see cref="OptionException"/> with one line naming the file and the bad line.</summary>
    public static GossipKeyFile Load(string path)
    {
        string text = Read(path);
        try
        {
            return new GossipKeyFile(path, text, Keyring.Create(KeyringText.Parse(text)));
        }
        catch (KeyringFormatException e)
        {
            throw new OptionException($"--gossip-key-file {path}: {e.Message}");
        }
    }

    private static string Read(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new OptionException($"--gossip-key-file {path}: {e.Message}");
        }
    }

    /// <summary>Starts watching the file; <paramref name="period"/> is the fallback check's interval.</summary>
    public void Watch(ILogger logger, TimeSpan period)
    {
        _logger = logger;
        _period = period;
        if (!OperatingSystem.IsWindows() && File.Exists(Path) && (File.GetUnixFileMode(Path) & UnixFileMode.OtherRead) != 0)
            logger.LogWarning("gossip key file {Path} is readable by every user of this machine; chmod 600 it", Path);
        _timer = new Timer(_ => Check(), null, period, period);
        try
        {
            string full = System.IO.Path.GetFullPath(Path);
            _watcher = new FileSystemWatcher(System.IO.Path.GetDirectoryName(full)!)
            {
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
            };
            // Any change in the directory: a Secret's file is a symlink into a directory that is swapped whole.
            FileSystemEventHandler soon = (_, _) => _timer?.Change(Debounce, _period);
            _watcher.Changed += soon;
            _watcher.Created += soon;
            _watcher.Deleted += soon;
            _watcher.Renamed += (_, _) => _timer?.Change(Debounce, _period);
            _watcher.EnableRaisingEvents = true;
        }
        catch (Exception e) when (e is IOException or ArgumentException or PlatformNotSupportedException or UnauthorizedAccessException)
        {
            logger.LogWarning("cannot watch gossip key file {Path} ({Error}); checking it every {Seconds} s", Path, e.Message, period.TotalSeconds);
        }
    }

    /// <summary>Re-reads the file now; true when a new ring was applied.</summary>
    public bool Check()
    {
        lock (_gate)
        {
            string text;
            try
            {
                text = File.ReadAllText(Path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Mid-swap or briefly absent: the ring in use stays; the next check reads it again.
                return Fail($"cannot read it: {e.Message}");
            }
            if (text == _text) return false;
            Keyring next;
            try
            {
                next = Keyring.Create(KeyringText.Parse(text), _current);
            }
            catch (KeyringFormatException e)
            {
                return Fail(e.Message);
            }
            Keyring previous = _current;
            _current = next;
            _text = text;
            Interlocked.Increment(ref _reloads);
            Volatile.Write(ref _lastError, null);
            _logger?.LogInformation("gossip keyring reloaded from {Path}: {Keys} (was {Previous})", Path, next, previous);
            return true;
        }
    }

    private bool Fail(string error)
    {
        // One log line and one count per distinct problem, not one per check.
        if (error == _lastError) return false;
        Interlocked.Increment(ref _reloadErrors);
        Volatile.Write(ref _lastError, error);
        _logger?.LogError("gossip key file {Path} changed but cannot be used: {Error}; still using {Keys}", Path, error, _current);
        return false;
    }

    public void Dispose()
    {
        _watcher?.Dispose();
        _timer?.Dispose();
    }
}
