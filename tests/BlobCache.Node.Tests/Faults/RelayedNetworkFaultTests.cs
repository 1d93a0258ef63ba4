using System.Diagnostics;
using System.Globalization;
using BlobCache.Node.Hosting;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;
using Xunit.Abstractions;

namespace BlobCache.Node.Tests.Faults;

/// <summary>
/// A lossy network without root or netem: three nodes whose gossip (UDP) and peer chunk traffic (framed TCP) reach
/// each other only through relays of our own (<see cref="UdpRelay"/>, <see cref="TcpRelay"/>) that drop, delay,
/// reorder, stall and cut. Each node advertises its relays' ports (--advertise-gossip-port, --advertise-grpc-port),
/// so everything a peer sends it crosses one impaired hop. The test reads through each node directly.
/// </summary>
[Collection(MeshCollection.Name)]
public sealed class RelayedNetworkFaultTests(MeshFixture fixture, ITestOutputHelper output)
{
    /// <summary>Nodes, each behind a gossip relay and a peer relay.</summary>
    private sealed class RelayedMesh : IAsyncDisposable
    {
        public List<NodeProcess> Nodes { get; } = [];
        public List<UdpRelay> Gossip { get; } = [];
        public List<TcpRelay> Peer { get; } = [];

        public static async Task<RelayedMesh> StartAsync(string prefix, int count, string origin, RelayFaults gossipFaults, RelayFaults peerFaults)
        {
            var mesh = new RelayedMesh();
            try
            {
                for (int i = 0; i < count; i++)
                {
                    NodePorts ports = NodePorts.Next();
                    var gossip = new UdpRelay(ports.Gossip, seed: 10 + i) { Faults = gossipFaults };
                    var peer = new TcpRelay(ports.Grpc, seed: 20 + i) { Faults = peerFaults };
                    gossip.Start();
                    peer.Start();
                    mesh.Gossip.Add(gossip);
                    mesh.Peer.Add(peer);
                    mesh.Nodes.Add(NodeProcess.StartOn(ports, [], $"{prefix}-{i}", origin, i == 0 ? [] : [mesh.Gossip[0].Address],
                        "--advertise-gossip-port", Str(gossip.Port), "--advertise-grpc-port", Str(peer.Port)));
                }
                foreach (NodeProcess n in mesh.Nodes) await n.WaitReadyAsync(TimeSpan.FromSeconds(90));
                await Wait.UntilAsync(async () =>
                {
                    foreach (NodeProcess n in mesh.Nodes)
                    {
                        if ((await n.StatusAsync()).LiveMembers != count) return false;
                    }
                    return true;
                }, TimeSpan.FromSeconds(60), $"{count} nodes behind relays to see each other");
                return mesh;
            }
            catch
            {
                await mesh.DisposeAsync();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            foreach (NodeProcess n in Nodes) await n.DisposeAsync();
            foreach (UdpRelay r in Gossip) await r.DisposeAsync();
            foreach (TcpRelay r in Peer) await r.DisposeAsync();
        }

        private static string Str(int n) => n.ToString(CultureInfo.InvariantCulture);
    }

    private List<string> Blobs() =>
        [.. fixture.Dataset.Sha256.Keys.Where(k => k.StartsWith("samples/", StringComparison.Ordinal)), "big/nine.bin", "big/seventeen.bin"];

    [Fact]
    public async Task Through_relays_with_5_percent_loss_and_20_to_50_ms_delay_membership_converges_without_false_deaths_and_reads_are_byte_exact()
    {
        await using RelayedMesh mesh = await RelayedMesh.StartAsync("relay-lossy", 3, fixture.Azurite.ConnectionString,
            gossipFaults: RelayFaults.Lossy(0.05, 20, 50), peerFaults: RelayFaults.Lossy(0.05, 20, 50));
        MembershipWatch watch = new(mesh.Nodes);
        var tally = new ReadTally();
        var sw = Stopwatch.StartNew();
        await using (watch)
        {
            // Each node reads everything through itself: about two thirds of the chunks are owned across a relay.
            await tally.ReadThroughEachAsync(mesh.Nodes, Dataset.Container, Blobs(), fixture.Dataset.Sha256);
            // Enough gossip through the loss to mean something (tens of probe rounds): every relay has dropped some.
            await Wait.UntilAsync(() => Task.FromResult(mesh.Gossip.All(r => r.Dropped >= 3 && r.Forwarded >= 100)),
                TimeSpan.FromSeconds(120), "each gossip relay to forward 100 datagrams and drop 3");
        }

        long peerReads = 0;
        foreach (NodeProcess n in mesh.Nodes) peerReads += (await n.StatusAsync()).ReadsBySource["peer"];
        int suspicions = MembershipWatch.Logged(mesh.Nodes, "Suspect"), deaths = MembershipWatch.Logged(mesh.Nodes, "Dead");
        string fault = "3 nodes behind UDP and TCP relays, 5% loss and 20-50 ms delay on every hop";
        Survivors.Say(output, $"{fault}: {tally.Attempted} reads in {sw.Elapsed.TotalSeconds:F1} s, {peerReads} peer reads; " +
            $"gossip relays forwarded {mesh.Gossip.Sum(r => r.Forwarded)} datagrams, dropped {mesh.Gossip.Sum(r => r.Dropped)}, reordered {mesh.Gossip.Sum(r => r.Reordered)}; " +
            $"peer relays carried {mesh.Peer.Sum(r => r.Bytes) / 1048576.0:F1} MiB over {mesh.Peer.Sum(r => r.Connections)} connections, {mesh.Peer.Sum(r => r.Stalls)} stalls; " +
            $"{watch.Figures}; log: {suspicions} suspicions, {deaths} deaths");
        tally.Report(output, fault);
        Assert.Equal(tally.Attempted, tally.Exact);
        Assert.True(peerReads > 0, "no chunk crossed a relay");
        Assert.True(mesh.Peer.Sum(r => r.Bytes) > 0, "no peer traffic went through the relays");
        Assert.Equal(0, watch.Dead);
        Assert.Equal(0, deaths);
        await Survivors.AssertAliveAsync(mesh.Nodes);
    }

    [Fact]
    public async Task Peer_connections_the_relays_keep_cutting_mid_transfer_cost_retries_never_wrong_bytes_or_members()
    {
        await using RelayedMesh mesh = await RelayedMesh.StartAsync("relay-cut", 3, fixture.Azurite.ConnectionString,
            gossipFaults: RelayFaults.Lossy(0, 20, 50), peerFaults: RelayFaults.Lossy(0, 20, 50));
        MembershipWatch watch = new(mesh.Nodes);
        var tally = new ReadTally();
        int cuts = 0;
        await using (watch)
        {
            using var reading = new CancellationTokenSource();
            Task cutting = Task.Run(async () =>
            {
                // Every 300 ms, every peer connection open at that moment is reset, mid-transfer or idle.
                while (!reading.IsCancellationRequested)
                {
                    try
                    {
                        await Task.Delay(300, reading.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                    foreach (TcpRelay r in mesh.Peer) Interlocked.Add(ref cuts, r.CutAll());
                }
            });
            await tally.ReadThroughEachAsync(mesh.Nodes, Dataset.Container, Blobs(), fixture.Dataset.Sha256);
            await reading.CancelAsync();
            await cutting;
        }

        long peerReads = 0, peerFailures = 0;
        foreach (NodeProcess n in mesh.Nodes)
        {
            StatusReport s = await n.StatusAsync();
            peerReads += s.ReadsBySource["peer"];
            peerFailures += s.PeerFailures;
        }
        string fault = "3 nodes behind relays that reset every peer connection every 300 ms";
        Survivors.Say(output, $"{fault}: {tally.Attempted} reads, {cuts} connections cut, {peerReads} peer reads, {peerFailures} peer failures (then the next owner or Blob); " +
            $"{watch.Figures}; log: {MembershipWatch.Logged(mesh.Nodes, "Dead")} deaths");
        tally.Report(output, fault);
        Assert.Equal(tally.Attempted, tally.Exact);
        Assert.True(cuts > 0, "the relays never cut an open connection");
        Assert.Equal(0, watch.Dead);
        await Survivors.AssertAliveAsync(mesh.Nodes);
    }
}
