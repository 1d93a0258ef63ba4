using System.Diagnostics;
using System.Net;
using BlobCache.Mesh;
using BlobCache.Node.Config;
using BlobCache.Node.Gossip;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Protocol.Gossip;
using BlobCache.Protocol.Security;
using BlobCache.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace BlobCache.Node.Tests.Integration;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GossipSwarmCollection
{
    public const string Name = "gossip swarm";
}

/// <summary>
/// Join and push-pull state over real sockets: the node's gossip host sends what does not fit one datagram over TCP
/// to the same port number, sealed as its datagrams are, and every datagram stays within the budget.
/// </summary>
[Collection(GossipSwarmCollection.Name)]
public sealed class GossipStateTransferTests(ITestOutputHelper output)
{
    private static NodeOptions Options(string id, int port, params string[] seeds) => new()
    {
        NodeId = id, Host = "127.0.0.1", GossipPort = port, GrpcPort = 1, UdpPort = 2, Seeds = seeds, Insecure = true,
    };

    private static int Alive(GossipHost host) => host.Current.Members.Count(m => m.State == MemberState.Alive);

    [Fact]
    public async Task A_node_joining_a_5000_member_mesh_on_real_sockets_gets_the_whole_view()
    {
        // 4,999 members in this process, plus a real gossip host (the seed) that joins them: a 5,000-member mesh.
        // The swarm probes every 5 s instead of every second so that it leaves the machine some breath.
        var swarmConfig = MeshConfig.Default with { ProbeInterval = TimeSpan.FromSeconds(5), ProbeTimeout = TimeSpan.FromSeconds(2), GossipInterval = TimeSpan.FromSeconds(1) };
        var started = Stopwatch.StartNew();
        await using var swarm = new LoopbackSwarm(4_999, swarmConfig);
        output.WriteLine($"swarm of 4,999 up in {started.Elapsed.TotalSeconds:F1} s");

        await using var seed = new GossipHost(Options("seed", Ports.Next(), swarm.AddressOf(0)), NullLogger.Instance, keys: null);
        seed.Start();
        await Wait.UntilAsync(() => Task.FromResult(Alive(seed) == 5_000), TimeSpan.FromSeconds(60), "the seed to learn the swarm");
        output.WriteLine($"seed: knows all 5,000 after {started.Elapsed.TotalSeconds:F1} s");

        var joining = Stopwatch.StartNew();
        await using var joiner = new GossipHost(Options("joiner", Ports.Next(), seed.Self.GossipAddress), NullLogger.Instance, keys: null);
        joiner.Start();
        await Wait.UntilAsync(() => Task.FromResult(Alive(joiner) == 5_001), TimeSpan.FromSeconds(60), "the joiner to see all 5,001 members");
        TimeSpan toFullView = joining.Elapsed;

        output.WriteLine($"joiner: full view of 5,001 in {toFullView.TotalMilliseconds:F0} ms; {joiner.StreamsReceived} state transfers received, {joiner.StreamBytesReceived:N0} bytes; " +
            $"seed: {seed.StreamsSent} sent, {seed.StreamBytesSent:N0} bytes, {seed.SentPackets:N0} datagrams");
        // The seed answers with a sample in one datagram; the view itself comes by stream from a member of the swarm.
        Assert.True(joiner.Joined);
        Assert.True(joiner.StreamsReceived >= 1);
        Assert.Equal(0, seed.OversizeDatagrams + joiner.OversizeDatagrams + swarm.OversizeDatagrams);
        Assert.Equal(0, seed.StreamsRejected + joiner.StreamsRejected);
        // The swarm hears of the joiner by gossip (a member or two may take until anti-entropy: not this test's matter).
        await Wait.UntilAsync(() => Task.FromResult(swarm.CountSeeingAlive("joiner") >= 4_950), TimeSpan.FromSeconds(60), "the swarm to hear of the joiner");
        output.WriteLine($"swarm: 99% see the joiner {joining.Elapsed.TotalSeconds:F1} s after it started");
    }

    [Fact]
    public async Task State_transfers_are_sealed_with_the_keyring_and_one_under_another_key_is_dropped_and_counted()
    {
        Keyring ours = Keyring.Create(KeyringText.Parse(KeyringText.NewKey())), theirs = Keyring.Create(KeyringText.Parse(KeyringText.NewKey()));
        // The seed knows 20 members, so its answer to a join (its whole view, as the mesh is smaller than a join
        // sample; about 90 bytes a member) cannot be one datagram.
        await using var seed = new GossipHost(Options("seed", Ports.Next()), NullLogger.Instance, () => ours);
        seed.Start();
        var members = Enumerable.Range(0, 20).Select(i => new MemberRecord(
            new MemberMeta($"far-away-member-{i}", $"127.0.0.1:{Ports.Next()}", "127.0.0.1:1", "127.0.0.1:2", "local", "local-1", 100, 1), 0, MemberState.Alive)).ToArray();
        var state = new PushPull { SourceId = "far-away-member-0", SourceAddress = members[0].Meta.GossipAddress, IsReply = true, Members = members };
        var to = new IPEndPoint(IPAddress.Loopback, seed.Self.GossipAddress.Split(':') is [_, var p] ? int.Parse(p, System.Globalization.CultureInfo.InvariantCulture) : 0);

        await using (var outsider = new StateStreamSender(() => theirs, NullLogger.Instance))
        {
            outsider.Send(to, seed.Self.GossipAddress, state);
            await Wait.UntilAsync(() => Task.FromResult(seed.StreamsRejected == 1), TimeSpan.FromSeconds(30), "the seed to drop the outsider's transfer");
        }
        Assert.Equal(1, Alive(seed));

        await using (var insider = new StateStreamSender(() => ours, NullLogger.Instance))
        {
            insider.Send(to, seed.Self.GossipAddress, state);
            await Wait.UntilAsync(() => Task.FromResult(Alive(seed) == 21), TimeSpan.FromSeconds(30), "the seed to take the insider's transfer");
        }

        // A joiner under the same key gets the seed's answer, sealed, by stream.
        await using var joiner = new GossipHost(Options("joiner", Ports.Next(), seed.Self.GossipAddress), NullLogger.Instance, () => ours);
        joiner.Start();
        // Known, not alive: the seed may already suspect some of the 20, which never answer its probes.
        await Wait.UntilAsync(() => Task.FromResult(joiner.Current.Members.Count >= 22), TimeSpan.FromSeconds(30), "the joiner to get the seed's view");
        Assert.True(joiner.StreamsReceived >= 1);
        Assert.Equal(0, joiner.StreamsRejected);
    }
}
