using System.Diagnostics;
using System.Net.Sockets;
using Azure.Storage.Blobs;
using BlobCache.Node.Origin;

namespace BlobCache.Testing;

/// <summary>
/// A real Azurite blob service on 127.0.0.1 for the test run. `.ci/run` installs it with npm into tools/azurite;
/// BLOBCACHE_AZURITE may name another azurite-blob executable.
/// </summary>
public sealed class Azurite : IAsyncDisposable
{
    public const string Account = LocalAzurite.Account;
    private Process? _process;
    private string? _dir;
    private readonly System.Text.StringBuilder _log = new();

    public int Port { get; private set; }

    /// <summary>The emulator's process (0 before it starts): what its CPU time is read from.</summary>
    public int Pid => _process?.Id ?? 0;
    public string ConnectionString => ConnectionStringFor(Port);
    public BlobServiceClient Client => new(ConnectionString);

    public static string ConnectionStringFor(int port) => LocalAzurite.ConnectionString(port);

    public static string? FindExecutable() => LocalAzurite.FindExecutable([Repo.Root]);

    /// <summary>Installs Azurite into tools/azurite with npm (its package.json pins the version) when it is missing.</summary>
    private static async Task<string> InstallAsync()
    {
        var psi = new ProcessStartInfo("npm") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { "install", "--prefix", Path.Combine(Repo.Root, "tools", "azurite"), "--no-audit", "--no-fund", "--no-package-lock" })
            psi.ArgumentList.Add(a);
        using Process npm = Process.Start(psi) ?? throw new InvalidOperationException("npm is not installed; Azurite cannot be installed");
        Task<string> err = npm.StandardError.ReadToEndAsync();
        await npm.StandardOutput.ReadToEndAsync().ConfigureAwait(false);
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await npm.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        return FindExecutable() ?? throw new InvalidOperationException($"npm install of Azurite failed ({npm.ExitCode}): {await err.ConfigureAwait(false)}");
    }

    public async Task StartAsync()
    {
        string exe = FindExecutable() ?? await InstallAsync().ConfigureAwait(false);
        Port = Ports.Next();
        _dir = Directory.CreateTempSubdirectory("blobcache-azurite-").FullName;
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in LocalAzurite.Arguments(Port, _dir)) psi.ArgumentList.Add(a);
        _process = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + exe);
        _process.OutputDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await Wait.UntilAsync(async () =>
        {
            if (_process.HasExited) throw new InvalidOperationException("Azurite exited: " + _log);
            using var tcp = new TcpClient();
            await tcp.ConnectAsync("127.0.0.1", Port).ConfigureAwait(false);
            return true;
        }, TimeSpan.FromSeconds(60), "Azurite to listen").ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }
        _process?.Dispose();
        if (_dir is not null)
        {
            try
            {
                Directory.Delete(_dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
