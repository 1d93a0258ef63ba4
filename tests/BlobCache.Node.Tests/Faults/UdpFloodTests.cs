using System.Net;
using System.Net.Sockets;
using BlobCache.Node.Hosting;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;
using Xunit.Abstractions;

namespace BlobCache.Node.Tests.Faults;

/// <summary>
/// Garbage on the UDP chunk port: each datagram is dropped and counted, and the node's output stays a few lines
/// however many arrive (the UDP library would otherwise print one line per datagram).
/// </summary>
[Collection(MeshCollection.Name)]
public sealed class UdpFloodTests(MeshFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task A_flood_of_malformed_datagrams_on_the_udp_port_is_counted_as_dropped_and_logs_a_bounded_number_of_lines()
    {
        const int datagrams = 20_000;
        await using NodeProcess node = NodeProcess.Start("udp-flood", fixture.Azurite.ConnectionString, [], "--udp-serve");
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
        long droppedBefore = (await node.StatusAsync()).UdpFramesDropped;
        int linesBefore = Lines(node);

        // A packet property LiteNetLib does not have (the low 5 bits all set), then bytes: never a valid packet.
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        var target = new IPEndPoint(IPAddress.Loopback, node.UdpPort);
        var random = new Random(7);
        byte[] datagram = new byte[64];
        int sent = 0;
        while (sent < datagrams)
        {
            // In bursts the receiver keeps up with, so the kernel's socket buffer drops none of them.
            for (int i = 0; i < 500; i++, sent++)
            {
                random.NextBytes(datagram);
                datagram[0] |= 0x1F;
                socket.SendTo(datagram, target);
            }
            int burstEnd = sent;
            await Wait.UntilAsync(async () => (await node.StatusAsync()).UdpFramesDropped - droppedBefore >= burstEnd * 9L / 10,
                TimeSpan.FromSeconds(30), $"the node to count {burstEnd} datagrams as dropped");
        }
        await Wait.UntilAsync(async () => (await node.StatusAsync()).UdpFramesDropped - droppedBefore >= datagrams,
            TimeSpan.FromSeconds(30), $"the node to count all {datagrams} datagrams as dropped");
        StatusReport s = await node.StatusAsync();
        int lines = Lines(node) - linesBefore;
        Survivors.Say(output, $"{datagrams} malformed datagrams on --udp-port: udp_frames_dropped +{s.UdpFramesDropped - droppedBefore}, {lines} lines of output");
        Assert.InRange(lines, 0, 50);
        await Survivors.AssertAliveAsync([node]);
    }

    private static int Lines(NodeProcess node) => node.Log.Count(c => c == '\n');
}
