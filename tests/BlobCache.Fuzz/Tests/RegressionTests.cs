using System.Net;
using System.Net.Sockets;
using System.Text;
using BlobCache.Fuzz.Engine;
using BlobCache.Fuzz.Targets;
using BlobCache.Mesh;
using BlobCache.Mesh.Membership;
using BlobCache.Node.Config;
using BlobCache.Node.Endpoint;
using BlobCache.Node.Gossip;
using BlobCache.Node.Peers;
using BlobCache.Node.Peers.Grpc;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace BlobCache.Fuzz.Tests;

/// <summary>
/// Every failure the fuzzer found, as its minimized input replayed through the same target (and the same check
/// stated directly against the fixed code). Each failed before its fix.
/// </summary>
public sealed class RegressionTests
{
    private static void Passes(FuzzTarget target, byte[] input)
    {
        (string? failure, _, _) = Fuzzer.Replay(target, input);
        Assert.True(failure is null, failure);
    }

    // ---- options: an empty or NUL-carrying config path threw ArgumentException out of OptionParser.Parse.

    [Theory]
    [InlineData("412D2D636F6E6669673D")] // "A--config=": flag with an empty path
    [InlineData("45424C4F4243414348455F434F4E4649473D")] // "EBLOBCACHE_CONFIG=": the environment's empty path
    [InlineData("412D2D636F6E6669673D00")] // "A--config=\0": a NUL in the path
    public void A_config_path_that_is_empty_or_has_a_NUL_is_an_option_error(string hex)
    {
        Passes(new OptionsTarget(), Convert.FromHexString(hex));
        OptionException e = Assert.Throws<OptionException>(() => OptionParser.Parse(["--config=\0"], new Dictionary<string, string?>()));
        Assert.Contains("config file", e.Message, StringComparison.Ordinal);
        Assert.Throws<OptionException>(() => OptionParser.Parse([], new Dictionary<string, string?> { ["BLOBCACHE_CONFIG"] = "" }));
    }

    // ---- options: a JSON string escape that is a lone surrogate threw InvalidOperationException from GetString.

    [Theory]
    [InlineData("4A7B22676F737369705F706F7274223A225C7544453039227D")] // J{"gossip_port":"\uDE09"}
    [InlineData("4A7B225C7544383030223A317D")] // J{"\uD800":1}, the same in a key
    public void A_lone_surrogate_in_the_JSON_config_is_an_option_error(string hex)
    {
        Passes(new OptionsTarget(), Convert.FromHexString(hex));
        string json = Encoding.UTF8.GetString(Convert.FromHexString(hex))[1..];
        OptionException e = Assert.Throws<OptionException>(() => OptionParser.ApplyJson(new NodeOptions(), json, "c.json"));
        Assert.StartsWith("config file c.json: ", e.Message, StringComparison.Ordinal);
    }

    // ---- options: Enum.TryParse took any number as a log level ("65536", "-1").

    [Theory]
    [InlineData("65536")]
    [InlineData("-1")]
    [InlineData("7")]
    public void A_number_that_is_no_log_level_is_refused(string value)
    {
        Passes(new OptionsTarget(), Encoding.UTF8.GetBytes("A--log-level=" + value));
        Assert.Throws<OptionException>(() => OptionParser.Parse(["--log-level", value], new Dictionary<string, string?>()));
        Assert.Equal("Debug", OptionParser.Parse(["--log-level", "debug"], new Dictionary<string, string?>()).LogLevel);
    }

    // ---- gRPC: a FetchRequest with a negative index threw ArgumentOutOfRangeException from ChunkId before validation.

    [Fact]
    public void A_negative_chunk_index_over_gRPC_is_refused_not_thrown()
    {
        byte[] input = Convert.FromHexString("28FFFFFFFFFFFFFFFFFF01"); // field 5 (index) = -1, nothing else
        Passes(new GrpcFetchTarget(), input);
        FetchRequest request = FetchRequest.Parser.ParseFrom(input);
        Assert.Equal(-1, request.Index);
        string? error = PeerRequest.Validate("devstoreaccount1", request, 4 << 20, out _);
        Assert.Contains("outside", error, StringComparison.Ordinal);
    }

    // ---- List Blobs: a prefix, marker or delimiter with a character XML cannot carry made XmlWriter throw (a 500).

    [Theory]
    [InlineData("prefix=%00")]
    [InlineData("delimiter=%01")]
    [InlineData("marker=%EF%BF%BE")] // U+FFFE
    public void A_list_parameter_XML_cannot_carry_is_a_400(string query)
    {
        Passes(new ListQueryTarget(), Encoding.UTF8.GetBytes(query));
        Assert.False(ListQuery.TryParse(new QueryCollection(QueryHelpers.ParseQuery(query)), out _, out string? code, out string? error));
        Assert.Equal("InvalidQueryParameterValue", code);
        Assert.Contains("XML", error, StringComparison.Ordinal);
        // Tabs, line ends and characters outside the BMP are fine.
        Assert.True(ListQuery.TryParse(new QueryCollection(QueryHelpers.ParseQuery("prefix=a%09b%0Ac%F0%9F%98%80")), out ListQuery ok, out _, out _));
        Assert.Equal("a\tb\nc😀", ok.Prefix);
    }

    // ---- Gossip: a ping's source address is where the node sends its ack. A port outside 1..65535 made
    // GossipHost throw (ArgumentOutOfRangeException from IPEndPoint) in its receive loop, which ended the loop: one
    // packet stopped the node hearing gossip at all. An IPv6 literal became an endpoint the IPv4 socket refuses.

    [Theory]
    [InlineData("127.0.0.1:99999")]
    [InlineData("127.0.0.1:-1")]
    [InlineData("127.0.0.1:0")]
    [InlineData("::1:7946")]
    [InlineData("[::1]:7946")]
    [InlineData("node.svc:-1")]
    [InlineData("::1")]
    public void A_ping_from_an_address_the_host_cannot_send_to_breaks_nothing(string sourceAddress)
    {
        byte[] ping = GossipCodec.Encode(new Ping { SourceId = "n1", Seq = 1, TargetId = "self", SourceAddress = sourceAddress });
        Passes(new GossipReceiveTarget(), ping);
        Assert.Null(GossipHost.ParseAddress(sourceAddress, out string? dnsName, out _));
        Assert.Null(dnsName);
    }

    [Fact]
    public void Valid_gossip_addresses_still_parse()
    {
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 7946), GossipHost.ParseAddress("127.0.0.1:7946", out _, out _));
        Assert.Null(GossipHost.ParseAddress("blobcache-0.blobcache.ns.svc.cluster.local:7946", out string? name, out int port));
        Assert.Equal(("blobcache-0.blobcache.ns.svc.cluster.local", 7946), (name, port));
    }

    [Fact]
    public void The_host_socket_refuses_IPv6_endpoints_which_is_why_the_parser_does()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        Assert.ThrowsAny<Exception>(() => socket.SendTo([1], new IPEndPoint(IPAddress.IPv6Loopback, 9)));
    }

    // ---- Membership: a rumour suspecting this node at uint.MaxValue wrapped its incarnation to 0 on refutation,
    // below what every peer already held for it.

    [Fact]
    public void Refuting_a_suspicion_at_the_highest_incarnation_saturates_instead_of_wrapping()
    {
        var self = new MemberMeta("self", "127.0.0.1:7946", "", "", "r1", "z1", 100, 1);
        var node = new SwimNode(MeshConfig.Default, self, new MemberDirectory(), 1);
        node.Start(0, []);
        var gossip = new BlobCache.Protocol.Gossip.Gossip
        {
            SourceId = "n1",
            Updates = [new MemberUpdate(UpdateKind.Suspect, "self", uint.MaxValue - 1, "n1", null), new MemberUpdate(UpdateKind.Suspect, "self", uint.MaxValue, "n1", null)],
        };
        byte[] input = GossipCodec.Encode(gossip);
        Assert.True(GossipCodec.TryDecode(input, WireLimits.Default, out GossipMessage? message, out string? error), error);
        node.Receive(1, message);
        Assert.Equal(uint.MaxValue, node.Incarnation);
        Assert.Equal(MemberState.Alive, node.StateOf(node.Self));
        Passes(new GossipReceiveTarget(), input);
    }

    // ---- tcp-frames (the framed-TCP transport's request decoder): a negative chunk index threw out of the decoder
    // (ChunkId refuses it by throwing) into Kestrel's connection pipeline; a name with invalid UTF-8 was decoded with
    // U+FFFD in it (a different name than the peer sent); unknown flag bits were ignored, so one request had many
    // encodings.

    private static byte[] Request(long index, byte flags, byte[] blobName)
    {
        var id = new BlobCache.Store.ChunkId("devstoreaccount1", "data", "x", "\"0x1\"", 0);
        byte[] buffer = new byte[512];
        int n = BlobCache.Node.Peers.Tcp.TcpFrames.WriteRequest(buffer, id, 100, fill: true, warmOnly: false, "peer");
        byte[] request = buffer[..n];
        BitConverter.TryWriteBytes(request.AsSpan(5), index);
        request[4] = flags;
        // Swap the one-byte blob name "x" for the given bytes.
        int at = Array.IndexOf(request, (byte)'x');
        byte[] swapped = [.. request[..(at - 2)], (byte)blobName.Length, 0, .. blobName, .. request[(at + 1)..]];
        BitConverter.TryWriteBytes(swapped.AsSpan(0), swapped.Length - 4);
        return swapped;
    }

    [Theory]
    [InlineData(-1L, (byte)1, "78", "a negative chunk index")]
    [InlineData(0L, (byte)1, "F09FFFFFFFFF", "names do not add up")]
    [InlineData(0L, (byte)0x83, "78", "unknown request flags 0x83")]
    public void A_framed_tcp_request_with_a_negative_index_bad_utf8_or_unknown_flags_is_refused_not_thrown(long index, byte flags, string nameHex, string error)
    {
        byte[] input = Request(index, flags, Convert.FromHexString(nameHex));
        Passes(new TcpFramesTarget(), input);
        var buffer = new System.Buffers.ReadOnlySequence<byte>(input);
        Assert.False(BlobCache.Node.Peers.Tcp.TcpFrames.TryReadRequest(ref buffer, out _, out string? why));
        Assert.NotNull(why);
        Assert.Contains(error, why, StringComparison.Ordinal);
        // The same request with good fields decodes.
        var good = new System.Buffers.ReadOnlySequence<byte>(Request(3, 1, [(byte)'x']));
        Assert.True(BlobCache.Node.Peers.Tcp.TcpFrames.TryReadRequest(ref good, out BlobCache.Node.Peers.Tcp.TcpFetch? fetch, out _));
        Assert.Equal(3, fetch!.Id.Index);
    }

    // ---- every peer transport: a fill request claiming a blob was 1 byte long made the owner fill and keep a
    // 1-byte chunk 0 (which every node then served under the blob's real length). The owner now answers from its
    // own metadata: "blob changed", nothing read, nothing kept. The same request, as each transport encodes it.

    private static readonly ChunkId Forged = new(PeerOwner.Account, BlobCache.Node.Origin.SampleOrigin.Container,
        BlobCache.Node.Origin.SampleOrigin.BlobName(0), PeerOwner.ETag, 0);

    public static TheoryData<string> Transports => ["grpc-fetch", "tcp-frames", "udp-frames"];

    private static byte[] ForgedInput(string target)
    {
        if (target == "grpc-fetch")
        {
            return new FetchRequest
            {
                Account = Forged.Account, Container = Forged.Container, Blob = Forged.Blob, Etag = Forged.ETag, Index = 0, BlobLength = 1, Fill = true, From = "forger",
            }.ToByteArray();
        }
        byte[] buffer = new byte[1024];
        int n = target == "tcp-frames"
            ? BlobCache.Node.Peers.Tcp.TcpFrames.WriteRequest(buffer, Forged, 1, fill: true, warmOnly: false, "forger")
            : BlobCache.Node.Peers.Udp.UdpFrames.WriteFetch(buffer, 7, new BlobCache.Node.Peers.Udp.UdpFetch(
                Forged.Account, Forged.Container, Forged.Blob, Forged.ETag, 0, 1, Fill: true, WarmOnly: false, "forger"));
        return buffer[..n];
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public void A_fill_request_claiming_a_false_blob_length_is_answered_blob_changed_and_nothing_is_kept(string transport)
    {
        Passes(AllTargets.Create(transport), ForgedInput(transport));
        using var owner = new PeerOwner();
        PeerAnswer answer = owner.Serve(Forged, blobLength: 1, fill: true);
        Assert.Equal(PeerServeStatus.BlobChanged, answer.Status);
        Assert.Null(owner.Check(answer));
        // The true length is served, and what is kept is the origin's.
        PeerAnswer honest = owner.Serve(Forged, PeerOwner.BlobBytes, fill: true);
        Assert.Equal(PeerServeStatus.Ok, honest.Status);
        Assert.Equal(PeerOwner.BlobBytes, honest.Bytes!.Length);
        Assert.Null(owner.Check(honest));
    }
}
