using System.Text;
using BlobCache.Node.Config;
using BlobCache.Protocol.Security;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Security;

/// <summary>
/// The keyring of <c>--gossip-key-file</c>, re-read when the file changes (<see cref="WatchedFiles"/>), so keys
/// rotate without a restart. A changed file that does not parse keeps the ring in use and is logged and counted.
/// </summary>
public sealed class GossipKeyFile : IDisposable
{
    private readonly WatchedFiles _file;
    private volatile Keyring _current = null!;

    private GossipKeyFile(string path)
    {
        Path = path;
        _file = new WatchedFiles("gossip keyring", [path], Load, period: null, logger: null, describe: () => _current.ToString());
    }

    public string Path { get; }

    /// <summary>The ring in use; swapped whole when the file changes.</summary>
    public Keyring Current => _current;

    /// <summary>Changes of the file that were applied.</summary>
    public long Reloads => _file.Reloads;

    /// <summary>Problems met reading a changed file, each counted once (the previous ring stayed in use).</summary>
    public long ReloadErrors => _file.Failures;

    public string? LastError => _file.LastError;

    /// <summary>Reads and parses the file; throws <see cref="OptionException"/> with one line naming the file and the bad line.</summary>
    public static GossipKeyFile Load(string path)
    {
        try
        {
            return new GossipKeyFile(path);
        }
        catch (InvalidDataException e)
        {
            throw new OptionException($"--gossip-key-file {path}: {e.Message}");
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new OptionException($"--gossip-key-file {path}: {e.Message}");
        }
    }

    private void Load(byte[][] files)
    {
        string text = Encoding.UTF8.GetString(files[0]).TrimStart('\uFEFF');
        try
        {
            // The previous ring is handed on so that keys kept across the change stay the same objects.
            _current = Keyring.Create(KeyringText.Parse(text), _current);
        }
        catch (KeyringFormatException e)
        {
            throw new InvalidDataException(e.Message, e);
        }
    }

    /// <summary>Starts watching the file; <paramref name="period"/> is the fallback check's interval.</summary>
    public void Watch(ILogger logger, TimeSpan period)
    {
        if (!OperatingSystem.IsWindows() && File.Exists(Path) && (File.GetUnixFileMode(Path) & UnixFileMode.OtherRead) != 0)
            logger.LogWarning("gossip key file {Path} is readable by every user of this machine; chmod 600 it", Path);
        _file.Watch(period, logger);
    }

    /// <summary>Re-reads the file now; true when a new ring was applied.</summary>
    public bool Check() => _file.Check();

    public void Dispose() => _file.Dispose();
}
