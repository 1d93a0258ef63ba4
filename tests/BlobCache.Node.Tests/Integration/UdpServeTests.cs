using System.Net;
using System.Net.Sockets;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Integration;

/// <summary>The UDP chunk transport is opt-in: a node serves it only when asked or when it fetches over it itself.</summary>
[Collection(MeshCollection.Name)]
public sealed class UdpServeTests(MeshFixture fixture)
{
    [Theory]
    [InlineData(false, new string[0])]
    [InlineData(true, new[] { "--udp-serve" })]
    [InlineData(true, new[] { "--peer-transport", "udp" })]
    public async Task A_node_listens_on_its_udp_port_only_with_udp_serve_or_the_udp_transport(bool listens, string[] flags)
    {
        await using NodeProcess node = NodeProcess.Start("udp-serve", fixture.Azurite.ConnectionString, [], flags);
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        // Ready means every server has started: a port the node holds cannot be bound again.
        SocketException? taken = Record.Exception(() => probe.Bind(new IPEndPoint(IPAddress.Loopback, node.UdpPort))) as SocketException;
        Assert.Equal(listens, taken is not null);
    }
}
