using BlobCache.Mesh;
using BlobCache.Node.Config;
using BlobCache.Node.Endpoint;

namespace BlobCache.Node.Tests.Unit;

public sealed class NamesAndOptionsTests
{
    [Theory]
    [InlineData("data", true)]
    [InlineData("a-b-c", true)]
    [InlineData("$root", true)]
    [InlineData("ab", false)]
    [InlineData("Data", false)]
    [InlineData("a--b", false)]
    [InlineData("-ab", false)]
    [InlineData("ab-", false)]
    [InlineData("a_b", false)]
    public void Container_names_follow_Blob_rules(string name, bool valid) => Assert.Equal(valid, BlobNames.IsValidContainer(name));

    [Theory]
    [InlineData("dir/file.bin", true)]
    [InlineData("with space", true)]
    [InlineData("", false)]
    [InlineData("ends/", false)]
    [InlineData("ends.", false)]
    [InlineData("ctrl\u0001char", false)]
    public void Blob_names_follow_Blob_rules(string name, bool valid) => Assert.Equal(valid, BlobNames.IsValidBlob(name));

    private static readonly Dictionary<string, string?> NoEnv = [];

    [Fact]
    public void Defaults_serve_on_loopback_against_Azurite()
    {
        NodeOptions o = OptionParser.Parse([], NoEnv);
        Assert.Equal("127.0.0.1", o.Host);
        Assert.Equal(NodeOptions.DevelopmentOrigin, o.Origin);
        Assert.Equal(4 << 20, o.ChunkSize);
        Assert.Equal(5, o.MetadataTtlSeconds);
        Assert.Equal(PeerTransport.Tcp, o.PeerTransport);
    }

    [Fact]
    public void Security_options_come_from_flags_environment_and_file_alike()
    {
        NodeOptions o = OptionParser.Parse(["--allowed-containers", "acct/data, acct/*", "--require-endpoint-auth", "--tls-ca", "ca.pem"],
            new Dictionary<string, string?> { ["BLOBCACHE_MAX_PEER_REQUESTS"] = "9", ["BLOBCACHE_ENDPOINT_TOKEN_FILE"] = "/t" });
        Assert.Equal(["acct/data", "acct/*"], o.AllowedContainers);
        Assert.True(o.RequireEndpointAuth);
        Assert.Equal("ca.pem", o.TlsCa);
        Assert.Equal(9, o.MaxPeerRequests);
        Assert.Equal("/t", o.EndpointTokenFile);
        Assert.Equal(2000, o.PeerRateLimit);
    }

    [Fact]
    public void The_endpoint_connection_limit_and_receive_deadline_have_defaults_and_come_from_flags_and_environment()
    {
        NodeOptions d = OptionParser.Parse([], NoEnv);
        Assert.Equal((10_000, 10_000), (d.HttpMaxConnections, d.HttpReceiveTimeoutMs));
        NodeOptions o = OptionParser.Parse(["--http-max-connections", "300"], new Dictionary<string, string?> { ["BLOBCACHE_HTTP_RECEIVE_TIMEOUT_MS"] = "2500" });
        Assert.Equal((300, 2500), (o.HttpMaxConnections, o.HttpReceiveTimeoutMs));
    }

    [Fact]
    public void Origin_retries_and_timeout_are_settings_with_bounds()
    {
        NodeOptions d = OptionParser.Parse([], NoEnv);
        Assert.Equal((4, 30_000), (d.OriginRetries, d.OriginTimeoutMs));
        NodeOptions o = OptionParser.Parse(["--origin-retries", "1", "--origin-timeout-ms", "500"], NoEnv);
        Assert.Equal((1, 500), (o.OriginRetries, o.OriginTimeoutMs));
        OptionException e = Assert.Throws<OptionException>(() => OptionParser.Parse(["--origin-timeout-ms", "5"], NoEnv));
        Assert.Contains("--origin-timeout-ms", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Peer_sends_and_busy_retries_have_defaults_bounds_and_clear_errors()
    {
        NodeOptions d = OptionParser.Parse([], NoEnv);
        Assert.Equal((8, 3), (d.MaxPeerSends, d.PeerBusyRetries));
        NodeOptions o = OptionParser.Parse(["--max-peer-sends", "1"], new Dictionary<string, string?> { ["BLOBCACHE_PEER_BUSY_RETRIES"] = "6" });
        Assert.Equal((1, 6), (o.MaxPeerSends, o.PeerBusyRetries));
        OptionException sends = Assert.Throws<OptionException>(() => OptionParser.Parse(["--max-peer-sends", "0"], NoEnv));
        Assert.Contains("--max-peer-sends", sends.Message, StringComparison.Ordinal);
        OptionException retries = Assert.Throws<OptionException>(() => OptionParser.Parse(["--peer-busy-retries", "17"], NoEnv));
        Assert.Contains("--peer-busy-retries", retries.Message, StringComparison.Ordinal);
        OptionException owners = Assert.Throws<OptionException>(() => OptionParser.Parse(["--owners-to-try", "9"], NoEnv));
        Assert.Contains("from 1 to 8", owners.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Inline_io_is_opt_in_and_tcp_is_a_transport()
    {
        Assert.False(OptionParser.Parse([], NoEnv).InlineIo);
        Assert.True(OptionParser.Parse(["--inline-io"], NoEnv).InlineIo);
        Assert.True(OptionParser.Parse([], new Dictionary<string, string?> { ["BLOBCACHE_INLINE_IO"] = "true" }).InlineIo);
        Assert.Equal(PeerTransport.Tcp, OptionParser.Parse(["--peer-transport", "tcp"], NoEnv).PeerTransport);
        Assert.Throws<OptionException>(() => OptionParser.Parse(["--inline-io", "maybe"], NoEnv));
    }

    [Fact]
    public void Suspicions_are_gossiped_unless_the_mesh_keeps_them_with_their_accusers()
    {
        Assert.Equal(SuspicionSpread.Auto, OptionParser.Parse([], NoEnv).Suspicions);
        Assert.Equal(SuspicionSpread.Accuser, OptionParser.Parse(["--suspicions", "accuser"], NoEnv).Suspicions);
        Assert.Equal(SuspicionSpread.Accuser, OptionParser.Parse([], new Dictionary<string, string?> { ["BLOBCACHE_SUSPICIONS"] = "Accuser" }).Suspicions);
        Assert.Equal(SuspicionSpread.Gossip, OptionParser.Parse(["--suspicions=gossip"], NoEnv).Suspicions);
        OptionException e = Assert.Throws<OptionException>(() => OptionParser.Parse(["--suspicions", "local"], NoEnv));
        Assert.Contains("auto, gossip or accuser", e.Message, StringComparison.Ordinal);
        // Auto: gossip in small meshes, kept by accusers in big ones.
        Assert.True(MeshConfig.Default.GossipsSuspicions(1_999));
        Assert.False(MeshConfig.Default.GossipsSuspicions(2_000));
    }

    [Fact]
    public void Flags_beat_environment_which_beats_the_config_file()
    {
        string file = Path.GetTempFileName();
        File.WriteAllText(file, """{ "http_port": 1000, "grpc_port": 2000, "gossip_port": 3000, "pooled_regions": ["b", "c"] }""");
        try
        {
            NodeOptions o = OptionParser.Parse(["--config", file, "--http-port=1001"],
                new Dictionary<string, string?> { ["BLOBCACHE_HTTP_PORT"] = "1002", ["BLOBCACHE_GRPC_PORT"] = "2002" });
            Assert.Equal(1001, o.HttpPort);
            Assert.Equal(2002, o.GrpcPort);
            Assert.Equal(3000, o.GossipPort);
            Assert.Equal(["b", "c"], o.PooledRegions);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("--memory-mb", "-1")]
    [InlineData("--metadata-ttl-seconds", "NaN")]
    [InlineData("--region", "two words")]
    [InlineData("--log-level", "Chatty")]
    [InlineData("--seeds", "host:0")]
    [InlineData("--allowed-containers", "account-only")]
    [InlineData("--allowed-containers", "acct/Bad_Name")]
    [InlineData("--max-peer-requests", "0")]
    [InlineData("--peer-rate-limit", "-5")]
    [InlineData("--http-max-connections", "8")]
    [InlineData("--http-receive-timeout-ms", "0")]
    public void Bad_values_name_the_flag(string flag, string value)
    {
        OptionException e = Assert.Throws<OptionException>(() => OptionParser.Parse([flag, value], NoEnv));
        Assert.Contains(flag, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_flag_without_its_value_is_an_error_not_a_crash()
    {
        OptionException e = Assert.Throws<OptionException>(() => OptionParser.Parse(["--http-port"], NoEnv));
        Assert.Contains("--http-port", e.Message, StringComparison.Ordinal);
    }
}
