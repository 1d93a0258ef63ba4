using System.Net;
using System.Net.Sockets;

namespace BlobCache.Testing;

/// <summary>Free loopback ports, free for both TCP and UDP.</summary>
/// <remarks>
/// Ports come from just below the kernel's ephemeral range (ip_local_port_range). A port from inside it (what
/// binding port 0 gives) can be handed to some client socket as its source port between our check and the node's
/// own bind, which then fails with "address already in use"; below the range only an explicit bind takes a port.
/// </remarks>
public static class Ports
{
    private const int Window = 12_000;
    private static readonly HashSet<int> Handed = [];
    private static readonly (int First, int Last) Range = BelowEphemeral();
    // Test processes that run at once start at different points of the window.
    private static int s_next = Range.First + Environment.ProcessId * 97 % (Range.Last - Range.First + 1);

    public static int Next()
    {
        lock (Handed)
        {
            for (int attempt = 0; attempt <= Range.Last - Range.First; attempt++)
            {
                int port = s_next;
                s_next = port == Range.Last ? Range.First : port + 1;
                if (!Handed.Contains(port) && IsFree(port))
                {
                    Handed.Add(port);
                    return port;
                }
            }
        }
        throw new InvalidOperationException($"no free loopback port in {Range.First}-{Range.Last}");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var tcp = new TcpListener(IPAddress.Loopback, port);
            tcp.Start();
            tcp.Stop();
            using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>The window of ports just below the ephemeral range (Linux default 32768-60999), or above 1024 at least.</summary>
    private static (int First, int Last) BelowEphemeral()
    {
        int low = 32_768;
        try
        {
            string[] parts = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 1 && int.TryParse(parts[0], System.Globalization.CultureInfo.InvariantCulture, out int l)) low = l;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not Linux, or no /proc: keep the Linux default.
        }
        int last = Math.Max(low - 1, 1025 + Window);
        return (Math.Max(1025, last - Window), last);
    }
}
