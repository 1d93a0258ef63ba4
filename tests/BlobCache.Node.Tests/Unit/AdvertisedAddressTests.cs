using BlobCache.Node.Config;
using BlobCache.Node.Gossip;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobCache.Node.Tests.Unit;

public sealed class AdvertisedAddressTests
{
    private static readonly Dictionary<string, string?> NoEnv = [];

    private static async Task<(string Gossip, string Grpc)> SelfOf(params string[] args)
    {
        await using var gossip = new GossipHost(OptionParser.Parse(args, NoEnv), NullLogger.Instance, keys: null);
        return (gossip.Self.GossipAddress, gossip.Self.GrpcAddress);
    }

    [Fact]
    public async Task Gossip_tells_peers_the_advertised_ports_and_without_them_the_bound_ones()
    {
        Assert.Equal(("127.0.0.1:7001", "127.0.0.1:7002"), await SelfOf("--gossip-port", "7001", "--grpc-port", "7002"));
        Assert.Equal(("10.1.2.3:9001", "10.1.2.3:9002"), await SelfOf("--gossip-port", "7001", "--grpc-port", "7002",
            "--advertise-host", "10.1.2.3", "--advertise-gossip-port", "9001", "--advertise-grpc-port", "9002"));
        Assert.Throws<OptionException>(() => OptionParser.Parse(["--advertise-gossip-port", "0"], NoEnv));
    }
}
