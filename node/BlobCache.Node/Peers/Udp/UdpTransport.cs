using System.Net;
using System.Net.Sockets;
using LiteNetLib;

namespace BlobCache.Node.Peers.Udp;

/// <summary>Settings shared by both ends of the UDP chunk transport; both ends must agree on them.</summary>
internal static class UdpTransport
{
    /// <summary>
    /// The LiteNetLib connection key: names the protocol, so a stray LiteNetLib client of something else is refused.
    /// It is not a secret and authenticates nothing (see <see cref="UdpChunkServer"/> for the keyring hook).
    /// </summary>
    public const string ConnectionKey = "blobcache-chunks/1";

    /// <summary>
    /// ReliableOrdered channels per connection. A LiteNetLib reliable channel has a fixed window of 64 packets, so
    /// one channel caps a connection at 64 MTU-sized packets per round trip; requests are spread over channels by
    /// id (all frames of one request stay on its channel, so they stay in order).
    /// </summary>
    public const byte Channels = 8;

    /// <summary>
    /// Fixed MTU: LiteNetLib starts at a conservative MTU and only grows it with discovery, which routers can break.
    /// 1400 fits Ethernet (1500) with IP/UDP headers and tunnel overhead to spare.
    /// </summary>
    public const int Mtu = 1400;

    /// <summary>Fragments of one message at most: a max-size frame at the MTU, with headroom.</summary>
    public const ushort MaxFragments = (UdpFrames.MaxFrameBytes / (Mtu - 64)) + 16;

    public static void Configure(NetManager manager)
    {
        manager.ChannelsCount = Channels;
        // Events run on LiteNetLib's own receive/logic threads: handlers only decode, copy and complete tasks.
        manager.UnsyncedEvents = true;
        manager.UnsyncedReceiveEvent = true;
        manager.UnsyncedDeliveryEvent = true;
        manager.AutoRecycle = true;
        // Reliable sends and acks go out on the logic thread's tick: tick often, or a 64-packet window idles.
        manager.UpdateTime = 1;
        manager.PingInterval = 1000;
        manager.DisconnectTimeout = 5000;
        manager.ReconnectDelay = 250;
        manager.MaxConnectAttempts = 8;
        manager.DisconnectOnUnreachable = true;
        manager.IPv6Enabled = false;
        manager.MtuOverride = Mtu;
        manager.MaxFragmentsCount = MaxFragments;
    }

    /// <summary>"host:port" to an endpoint; host is an IPv4 literal or a name (resolved to its first IPv4 address).</summary>
    public static async Task<IPEndPoint> ResolveAsync(string address, CancellationToken cancellationToken)
    {
        int colon = address.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(address.AsSpan(colon + 1), System.Globalization.NumberStyles.None, null, out int port) || port is < 1 or > 65535)
            throw new PeerTransferException($"'{address}' is not host:port");
        string host = address[..colon];
        if (IPAddress.TryParse(host, out IPAddress? ip)) return new IPEndPoint(ip, port);
        try
        {
            IPAddress[] all = await Dns.GetHostAddressesAsync(host, AddressFamily.InterNetwork, cancellationToken).ConfigureAwait(false);
            if (all.Length == 0) throw new PeerTransferException($"'{host}' has no IPv4 address");
            return new IPEndPoint(all[0], port);
        }
        catch (SocketException e)
        {
            throw new PeerTransferException($"cannot resolve '{host}': {e.Message}", e);
        }
    }
}
