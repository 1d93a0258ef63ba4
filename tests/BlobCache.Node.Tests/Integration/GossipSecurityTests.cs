using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using BlobCache.Node.Hosting;
using BlobCache.Node.Origin;
using BlobCache.Node.Peers;
using BlobCache.Node.Peers.Udp;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Protocol.Gossip;
using BlobCache.Protocol.Security;
using BlobCache.Store;
using BlobCache.Testing;
using LiteNetLib;
using LiteNetLib.Utils;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobCache.Node.Tests.Integration;

/// <summary>The gossip keyring and UDP authentication on real node processes (the built-in sample origin).</summary>
[Collection(MeshCollection.Name)]
public sealed partial class GossipSecurityTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private readonly string _dir = Directory.CreateTempSubdirectory("blobcache-keyring-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Writes a key file the way Kubernetes and careful operators do: a new file renamed over the old.</summary>
    private string WriteKeys(string name, params string[] keys)
    {
        string path = Path.Combine(_dir, name), temp = path + ".new";
        File.WriteAllText(temp, string.Join('\n', keys) + "\n");
        File.Move(temp, path, overwrite: true);
        return path;
    }

    private static string Fingerprint(string key) => Keyring.Create(KeyringText.Parse(key)).Primary.Id;

    private static async Task WaitUpAsync(NodeProcess node) => await Wait.UntilAsync(async () =>
    {
        if (node.HasExited) throw new InvalidOperationException($"node {node.Id} exited with {node.ExitCode}:\n{node.Log}");
        await node.StatusAsync();
        return true;
    }, Deadline, $"{node.Id} to answer /status");

    private static async Task<string[]> LiveIdsAsync(NodeProcess node) =>
        (await node.StatusAsync()).Members.Where(m => m.State == "alive").Select(m => m.Id).Order(StringComparer.Ordinal).ToArray();

    [GeneratedRegex("""blobcache_gossip_packets_dropped[a-z_]*\{[^}]*reason="unauthenticated"[^}]*\} (\d+)""")]
    private static partial Regex UnauthenticatedMetric();

    [Fact]
    public async Task Nodes_without_a_shared_key_never_see_each_other_and_the_drops_are_counted()
    {
        string keyA = KeyringText.NewKey(), keyB = KeyringText.NewKey();
        string fileA = WriteKeys("a", keyA), fileB = WriteKeys("b", keyB);
        var nodes = new List<NodeProcess>();
        try
        {
            NodeProcess a = NodeProcess.Start("key-a", "sample", [], "--gossip-key-file", fileA);
            nodes.Add(a);
            NodeProcess c = NodeProcess.Start("key-c", "sample", [a.GossipAddress], "--gossip-key-file", fileA); // same key: joins
            NodeProcess b = NodeProcess.Start("key-b", "sample", [a.GossipAddress], "--gossip-key-file", fileB); // other key
            NodeProcess plain = NodeProcess.Start("key-plain", "sample", [a.GossipAddress], "--insecure");       // no key
            nodes.AddRange([c, b, plain]);
            foreach (NodeProcess n in nodes) await WaitUpAsync(n);

            // Each outsider retries its join every couple of seconds: wait until a has dropped several of each kind.
            await Wait.UntilAsync(async () =>
                (await a.StatusAsync()).GossipPacketsUnauthenticated >= 6
                && a.Log.Contains("sealed under key", StringComparison.Ordinal)
                && a.Log.Contains("not encrypted", StringComparison.Ordinal)
                && (await LiveIdsAsync(c)).Length == 2,
                Deadline, "key-a to drop the outsiders' joins while key-c joins");

            Assert.Equal(["key-a", "key-c"], await LiveIdsAsync(a));
            Assert.Equal(["key-a", "key-c"], await LiveIdsAsync(c));
            Assert.Equal(["key-b"], await LiveIdsAsync(b));
            Assert.Equal(["key-plain"], await LiveIdsAsync(plain));
            StatusReport sa = await a.StatusAsync();
            Assert.Equal(0, sa.GossipPacketsDropped); // dropped unparsed: nothing reached the decoder
            Assert.Equal(Fingerprint(keyA), Assert.Single(sa.GossipKeyring!.Keys).Fingerprint);
            Assert.DoesNotContain(keyA, a.Log, StringComparison.Ordinal); // keys are never logged, fingerprints are
            Assert.Null((await plain.StatusAsync()).GossipKeyring);

            using var http = new HttpClient();
            string metrics = await http.GetStringAsync($"http://127.0.0.1:{a.HttpPort}/metrics");
            Match m = UnauthenticatedMetric().Match(metrics);
            Assert.True(m.Success, "no unauthenticated drop counter in /metrics");
            Assert.True(long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) >= 6, m.Value);
            // The outsiders are not ready: they never joined.
            using HttpResponseMessage ready = await http.GetAsync($"http://127.0.0.1:{b.HttpPort}/readyz");
            Assert.False(ready.IsSuccessStatusCode);
        }
        finally
        {
            foreach (NodeProcess n in nodes) await n.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_three_node_mesh_rotates_its_key_without_a_restart_a_suspicion_or_a_lost_member()
    {
        string oldKey = KeyringText.NewKey(), newKey = KeyringText.NewKey();
        string oldId = Fingerprint(oldKey), newId = Fingerprint(newKey);
        string[] files = ["r0", "r1", "r2"];
        foreach (string f in files) WriteKeys(f, oldKey);
        var nodes = new List<NodeProcess>();
        try
        {
            for (int i = 0; i < 3; i++)
                nodes.Add(NodeProcess.Start($"rot-{i}", "sample", i == 0 ? [] : [nodes[0].GossipAddress], "--gossip-key-file", Path.Combine(_dir, files[i])));
            foreach (NodeProcess n in nodes) await n.WaitReadyAsync(Deadline);
            await Wait.UntilAsync(async () => (await Task.WhenAll(nodes.Select(LiveIdsAsync))).All(l => l.Length == 3), Deadline, "the mesh to form");

            // Add the new key as secondary everywhere, make it primary everywhere, remove the old one: each step
            // one node at a time (as a rolling Secret update would), the next step only once every node has it.
            (string[] Keys, string[] Ids)[] steps =
            [
                ([oldKey, newKey], [oldId, newId]),
                ([newKey, oldKey], [newId, oldId]),
                ([newKey], [newId]),
            ];
            foreach ((string[] keys, string[] ids) in steps)
            {
                for (int i = 0; i < 3; i++)
                {
                    WriteKeys(files[i], keys);
                    await Wait.UntilAsync(async () =>
                    {
                        StatusReport s = await nodes[i].StatusAsync();
                        return s.GossipKeyring!.Keys.Select(k => k.Fingerprint).SequenceEqual(ids);
                    }, Deadline, $"rot-{i} to load keys {string.Join(",", ids)}");
                    await AssertWholeAsync(nodes);
                }
                // Traffic under the new state: every node opens more packets with the step's primary.
                long[] before = await OpenedAsync(nodes, ids[0]);
                await Wait.UntilAsync(async () => (await OpenedAsync(nodes, ids[0])).Zip(before).All(p => p.First >= p.Second + 10),
                    Deadline, $"packets under {ids[0]} on every node");
                await AssertWholeAsync(nodes);
            }
            foreach (NodeProcess n in nodes)
            {
                StatusReport s = await n.StatusAsync();
                Assert.Equal(3, s.GossipKeyring!.Reloads);
                Assert.Equal(0, s.GossipKeyring.ReloadErrors);
                Assert.Equal(0, s.GossipPacketsUnauthenticated);
                Assert.DoesNotMatch(@"member \S+ (Suspect|Dead)", n.Log);
            }

            // A key file broken during a rotation keeps the ring in use (and says so) instead of cutting the node off.
            WriteKeys(files[0], "not a key");
            await Wait.UntilAsync(async () => (await nodes[0].StatusAsync()).GossipKeyring!.ReloadErrors == 1, Deadline, "rot-0 to reject a bad key file");
            StatusReport broken = await nodes[0].StatusAsync();
            Assert.Equal(newId, Assert.Single(broken.GossipKeyring!.Keys).Fingerprint);
            Assert.Contains("line 1: not base64", broken.GossipKeyring.LastError, StringComparison.Ordinal);
            await AssertWholeAsync(nodes);
        }
        finally
        {
            foreach (NodeProcess n in nodes) await n.DisposeAsync();
        }
    }

    private static async Task AssertWholeAsync(List<NodeProcess> nodes)
    {
        foreach (NodeProcess n in nodes)
        {
            StatusReport s = await n.StatusAsync();
            Assert.True(s.Members.Count == 3 && s.Members.All(m => m.State == "alive"),
                $"{n.Id} sees {string.Join(", ", s.Members.Select(m => $"{m.Id} {m.State}"))}\n{n.LogTail(20)}");
            Assert.Equal(0, s.GossipPacketsUnauthenticated);
        }
    }

    private static async Task<long[]> OpenedAsync(List<NodeProcess> nodes, string id)
    {
        var opened = new long[nodes.Count];
        for (int i = 0; i < nodes.Count; i++)
            opened[i] = (await nodes[i].StatusAsync()).GossipKeyring!.Keys.FirstOrDefault(k => k.Fingerprint == id)?.PacketsOpened ?? 0;
        return opened;
    }

    [Fact]
    public async Task A_udp_chunk_client_without_the_key_gets_nothing_and_one_with_it_reads_byte_exact()
    {
        const int chunkSize = 4 * 1024 * 1024;
        await using NodeProcess node = NodeProcess.Start("udp-auth", "sample", [], "--udp-serve");
        await node.WaitReadyAsync(Deadline);
        using var http = new HttpClient();
        using var head = new HttpRequestMessage(HttpMethod.Head, $"http://127.0.0.1:{node.HttpPort}/devstoreaccount1/{SampleOrigin.Container}/{SampleOrigin.BlobName(3)}");
        using HttpResponseMessage headers = await http.SendAsync(head);
        headers.EnsureSuccessStatusCode();
        string etag = headers.Headers.ETag!.Tag;
        long length = headers.Content.Headers.ContentLength!.Value;
        var owner = new MemberMeta(node.Id, node.GossipAddress, $"127.0.0.1:{node.GrpcPort}", $"127.0.0.1:{node.UdpPort}", "local", "local-1", 100, 1);
        var chunk = new ChunkId("devstoreaccount1", SampleOrigin.Container, SampleOrigin.BlobName(3), etag, 1);
        TimeSpan answer = TimeSpan.FromSeconds(10);

        Keyring wrong = Keyring.Create(KeyringText.Parse(KeyringText.NewKey()));
        await using (var outsider = new UdpChunkPeerClient("outsider", chunkSize, NullLogger.Instance, () => wrong))
        {
            PeerTransferException e = await Assert.ThrowsAsync<PeerTransferException>(() =>
                outsider.FetchAsync(owner, chunk, length, fill: true, answer, CancellationToken.None));
            Assert.Contains("refused the connection: signed with a key this node does not hold", e.Message, StringComparison.Ordinal);
        }
        await using (var keyless = new UdpChunkPeerClient("keyless", chunkSize, NullLogger.Instance))
        {
            PeerTransferException e = await Assert.ThrowsAsync<PeerTransferException>(() =>
                keyless.FetchAsync(owner, chunk, length, fill: true, answer, CancellationToken.None));
            Assert.Contains("refused the connection: no valid credential", e.Message, StringComparison.Ordinal);
        }
        StatusReport s = await node.StatusAsync();
        Assert.True(s.UdpConnectionsUnauthenticated >= 2, $"{s.UdpConnectionsUnauthenticated} refusals counted");
        Assert.Equal(0, s.PeerServed);
        Assert.Contains("blobcache_udp_connections_unauthenticated", await http.GetStringAsync($"http://127.0.0.1:{node.HttpPort}/metrics"), StringComparison.Ordinal);

        await using var member = new UdpChunkPeerClient("member", chunkSize, NullLogger.Instance, () => NodeProcess.DefaultKeyring);
        ChunkBuffer? got = await member.FetchAsync(owner, chunk, length, fill: true, answer, CancellationToken.None);
        Assert.NotNull(got);
        try
        {
            byte[] expected = new byte[chunkSize];
            SampleOrigin.Fill(3, chunkSize, expected);
            Assert.True(got.Span.SequenceEqual(expected), "the chunk differs from the origin's bytes");
        }
        finally
        {
            got.Release();
        }
        await Wait.UntilAsync(async () => (await node.StatusAsync()).PeerServed == 1, Deadline, "the owner to count the chunk served");
    }

    [Fact]
    public async Task A_captured_udp_connect_token_replayed_from_another_address_is_refused()
    {
        await using NodeProcess node = NodeProcess.Start("udp-replay", "sample", [], "--udp-serve");
        await node.WaitReadyAsync(Deadline);
        byte[] token = new byte[ConnectToken.MaxBytes];
        int n = ConnectToken.Write(NodeProcess.DefaultKeyring, "member", $"127.0.0.1:{node.UdpPort}", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), token);
        token = token[..n];

        // The genuine requester connects; the same bytes sent from another socket (as by someone who captured them)
        // are refused with the reason, and counted.
        (bool connected, string detail) = await ConnectOnceAsync(node.UdpPort, token);
        Assert.True(connected, detail);
        (connected, detail) = await ConnectOnceAsync(node.UdpPort, token);
        Assert.False(connected, "a replayed token was accepted");
        Assert.Contains("replayed", detail, StringComparison.Ordinal);
        Assert.Equal(1, (await node.StatusAsync()).UdpConnectionsUnauthenticated);
    }

    /// <summary>One LiteNetLib connection attempt from a fresh socket with <paramref name="token"/> as its request data.</summary>
    private static async Task<(bool Connected, string Detail)> ConnectOnceAsync(int port, byte[] token)
    {
        var listener = new EventBasedNetListener();
        var outcome = new TaskCompletionSource<(bool, string)>(TaskCreationOptions.RunContinuationsAsynchronously);
        listener.PeerConnectedEvent += _ => outcome.TrySetResult((true, "connected"));
        listener.PeerDisconnectedEvent += (_, info) => outcome.TrySetResult((false,
            $"{info.Reason}: {(info.AdditionalData is { AvailableBytes: > 0 } d ? System.Text.Encoding.UTF8.GetString(d.GetRemainingBytesSpan()) : "")}"));
        var manager = new NetManager(listener);
        UdpTransport.Configure(manager);
        Assert.True(manager.Start(IPAddress.Loopback, IPAddress.IPv6Loopback, 0));
        try
        {
            var request = new NetDataWriter();
            request.Put(token);
            manager.Connect(new IPEndPoint(IPAddress.Loopback, port), request);
            return await outcome.Task.WaitAsync(Deadline);
        }
        finally
        {
            manager.Stop();
        }
    }
}
