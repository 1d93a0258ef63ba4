using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using BlobCache.Testing;

namespace BlobCache.LoadTests;

/// <summary>Waiting for a baseline server the harness started (nginx) to accept connections.</summary>
internal static class Listening
{
    /// <summary>
    /// Waits until 127.0.0.1:<paramref name="port"/> accepts a connection; fails at once, with
    /// <paramref name="whyExited"/>'s text, if <paramref name="process"/> exits first.
    /// </summary>
    public static Task WaitAsync(Process process, int port, string name, Func<string> whyExited) =>
        Wait.UntilAsync(async () =>
        {
            if (process.HasExited) throw new InvalidOperationException($"{name} exited with {process.ExitCode}: {whyExited()}");
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, port).ConfigureAwait(false);
            return true;
        }, TimeSpan.FromSeconds(20), $"{name} to listen");
}
