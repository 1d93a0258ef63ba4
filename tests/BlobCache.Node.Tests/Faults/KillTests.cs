using System.Diagnostics;
using System.Globalization;
using BlobCache.Node.Hosting;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;
using Xunit.Abstractions;

namespace BlobCache.Node.Tests.Faults;

/// <summary>kill -9 of owners while they serve chunks, half of a six-node mesh at once, during a read pass.</summary>
[Collection(MeshCollection.Name)]
public sealed class KillTests(MeshFixture fixture, ITestOutputHelper output)
{
    private const int ReadersPerNode = 2;
    private static readonly System.Text.RegularExpressions.Regex FailoverMs = new(@"peer \S+ failed for .* after (\d+) ms: [^\n]*");

    private static async Task<long> PeerServingNowAsync(NodeProcess node) => (long)await node.MetricAsync("blobcache_peer_serving");

    [Fact]
    public async Task Killing_half_the_mesh_while_its_nodes_serve_chunks_leaves_every_read_on_the_survivors_byte_exact()
    {
        var phase = Stopwatch.StartNew();
        List<NodeProcess> nodes = await fixture.StartMeshAsync("kill", 6, "--memory-mb", "256");
        TimeSpan started = phase.Elapsed;
        try
        {
            NodeProcess[] survivors = nodes[..3].ToArray(), victims = nodes[3..].ToArray();
            string[] big = ["big/nine.bin", "big/seventeen.bin", "big/forty.bin"];
            var blobs = fixture.Dataset.Sha256.Where(kv => big.Contains(kv.Key) || kv.Key.StartsWith("samples/", StringComparison.Ordinal)).ToList();
            var tally = new ReadTally();
            long killedAt = 0;

            // Two readers on each survivor walk the dataset in different orders; the victims own about half its chunks.
            var readers = survivors.SelectMany((node, n) => Enumerable.Range(0, ReadersPerNode).Select(async r =>
            {
                var order = blobs.OrderBy(kv => HashCode.Combine(kv.Key, n, r)).ToList();
                foreach ((string name, string sha) in order) await tally.ReadAsync(node, Dataset.Container, name, sha);
            })).ToList();

            // Kill the victims the moment one of them is serving a chunk to a peer: an owner dies mid-transfer.
            long servingAtKill = 0;
            var sw = Stopwatch.StartNew();
            await Wait.UntilAsync(async () =>
            {
                long serving = 0;
                foreach (NodeProcess v in victims) serving += await PeerServingNowAsync(v);
                servingAtKill = serving;
                return serving > 0;
            }, TimeSpan.FromSeconds(60), "a victim to be serving a peer");
            foreach (NodeProcess v in victims) v.Kill();
            killedAt = sw.ElapsedMilliseconds;
            int doneAtKill = tally.Attempted;

            await Task.WhenAll(readers);
            TimeSpan firstPass = phase.Elapsed - started;
            Survivors.Say(output, $"killed {victims.Length} of {nodes.Count} nodes (kill -9) at {killedAt} ms, with {servingAtKill} peer transfers in flight on them and {doneAtKill} reads started");
            tally.Report(output, "kill -9 of 3 of 6 nodes during a read pass");
            Assert.Equal(tally.Attempted, tally.Exact); // a dead peer never fails a read
            Assert.Equal(survivors.Length * ReadersPerNode * blobs.Count, tally.Attempted);

            // A second pass on every survivor, while the mesh may still list the dead: still every read byte-exact.
            var second = new ReadTally();
            await Task.WhenAll(survivors.Select(async node =>
            {
                foreach ((string name, string sha) in blobs) await second.ReadAsync(node, Dataset.Container, name, sha);
            }));
            Survivors.Say(output, $"mesh of 6 up in {started.TotalSeconds:F1} s, first pass {firstPass.TotalSeconds:F1} s, second pass {(phase.Elapsed - started - firstPass).TotalSeconds:F1} s");
            second.Report(output, "second pass on the 3 survivors after the kill");
            Assert.Equal(second.Attempted, second.Exact);

            long peerFailures = 0, blobGets = 0;
            foreach (NodeProcess s in survivors)
            {
                StatusReport st = await s.StatusAsync();
                peerFailures += st.PeerFailures;
                blobGets += st.BlobGets;
            }
            // What each failover cost: the survivors log "peer X failed for CHUNK after N ms".
            var failovers = survivors.SelectMany(s => FailoverMs.Matches(s.Log).Select(m => (Ms: double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), Line: m.Value))).OrderBy(f => f.Ms).ToArray();
            double[] costs = failovers.Select(f => f.Ms).ToArray();
            if (failovers.Length > 0) Survivors.Say(output, "slowest failover: " + failovers[^1].Line);
            Survivors.Say(output, $"survivors: {peerFailures} peer fetches failed over to the next owner or Blob, {blobGets} Blob GETs; " +
                $"a failover cost median {(costs.Length > 0 ? costs[costs.Length / 2] : 0):F0} ms, max {(costs.Length > 0 ? costs[^1] : 0):F0} ms (--peer-timeout-ms 2000)");
            await Survivors.AssertAliveAsync(survivors);
            Assert.True(peerFailures > 0, "no read went to a dead owner, so this test proved nothing");
        }
        finally
        {
            foreach (NodeProcess n in nodes) await n.DisposeAsync();
        }
    }
}
