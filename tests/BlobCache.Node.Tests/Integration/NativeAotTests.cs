using BlobCache.Node.Hosting;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Integration;

/// <summary>
/// The native (NativeAOT) build of the node on real processes: it joins a mesh, answers its probes, reads through
/// Azurite and fetches chunks from peers over both chunk transports. Runs when a native build is present
/// (<see cref="NodeProgram.Variable"/>, or the default publish directory); the publish takes minutes, so CI skips it.
/// </summary>
[Collection(MeshCollection.Name)]
public sealed class NativeAotTests(MeshFixture fixture)
{
    private const string NoBinary = "no native blobcache: publish it with `dotnet publish node/BlobCache.Node -c Release -r linux-x64 -p:PublishAot=true` " +
        "(minutes on 2 cores, so CI does not) or name one in " + NodeProgram.Variable;

    [SkippableFact]
    public async Task Three_native_nodes_join_and_serve_the_dataset_byte_exact_fetching_from_peers_over_framed_TCP_and_gRPC()
    {
        NodeProgram? program = NodeProgram.NativeBuild;
        Skip.If(program is null, NoBinary);
        string origin = fixture.Azurite.ConnectionString;
        string[] transports = ["tcp", "grpc", "tcp"];
        var nodes = new List<NodeProcess>();
        try
        {
            for (int i = 0; i < transports.Length; i++)
            {
                nodes.Add(NodeProcess.StartProgram(program!, NodePorts.Next(), [], $"aot-{i}", origin, i == 0 ? [] : [nodes[0].GossipAddress],
                    "--peer-transport", transports[i]));
            }
            await NodeProcess.WaitJoinedAsync(nodes);

            foreach (NodeProcess n in nodes) await fixture.ReadDatasetAsync(n);

            long blobGets = 0;
            for (int i = 0; i < nodes.Count; i++)
            {
                StatusReport status = await nodes[i].StatusAsync();
                Assert.Equal(transports[i], status.PeerTransport);
                blobGets += status.BlobGets;
                Assert.True(status.ReadsBySource["peer"] > 0, $"{nodes[i].Id} read nothing from peers over {transports[i]}");
            }
            // Each chunk came from Blob once, into its owner; every other read of it was a peer's or a memory hit.
            Assert.Equal(fixture.Dataset.ChunkCount(4 * 1024 * 1024), blobGets);
            Assert.True(await nodes[0].MetricAsync("blobcache_chunk_reads_total") > 0, "/metrics counted no chunk read");
            Assert.Equal(0, await nodes[1].StopAsync(TimeSpan.FromSeconds(15)));
        }
        finally
        {
            foreach (NodeProcess n in nodes) await n.DisposeAsync();
        }
    }
}
