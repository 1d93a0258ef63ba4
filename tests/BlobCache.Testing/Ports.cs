using System.Net;
using System.Net.Sockets;

namespace BlobCache.Testing;

/// <summary>Free loopback ports, free for both TCP and UDP when asked.</summary>
public static class Ports
{
    private static readonly HashSet<int> Handed = [];

    public static int Next()
    {
        lock (Handed)
        {
            for (int attempt = 0; attempt < 200; attempt++)
            {
                using var tcp = new TcpListener(IPAddress.Loopback, 0);
                tcp.Start();
                int port = ((IPEndPoint)tcp.LocalEndpoint).Port;
                tcp.Stop();
                if (Handed.Contains(port)) continue;
                try
                {
                    using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, port));
                }
                catch (SocketException)
                {
                    continue;
                }
                Handed.Add(port);
                return port;
            }
        }
        throw new InvalidOperationException("no free loopback port found");
    }
}
