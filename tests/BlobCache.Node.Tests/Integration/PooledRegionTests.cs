using System.Security.Cryptography;
using BlobCache.Node.Hosting;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Integration;

/// <summary>A region that pools with another reads chunks the other region already holds instead of Blob.</summary>
[Collection(MeshCollection.Name)]
public sealed class PooledRegionTests(MeshFixture fixture)
{
    [Fact]
    public async Task A_pooled_region_reads_from_the_other_regions_owners_not_Blob()
    {
        const string name = "big/seventeen.bin";
        var nodes = new List<NodeProcess>();
        try
        {
            nodes.Add(NodeProcess.Start("east-0", fixture.Azurite.ConnectionString, [], "--region", "east"));
            nodes.Add(NodeProcess.Start("east-1", fixture.Azurite.ConnectionString, [nodes[0].GossipAddress], "--region", "east"));
            nodes.Add(NodeProcess.Start("west-0", fixture.Azurite.ConnectionString, [nodes[0].GossipAddress], "--region", "west", "--pooled-regions", "east"));
            nodes.Add(NodeProcess.Start("north-0", fixture.Azurite.ConnectionString, [nodes[0].GossipAddress], "--region", "north"));
            foreach (NodeProcess n in nodes) await n.WaitReadyAsync(TimeSpan.FromSeconds(60));
            await Wait.UntilAsync(async () =>
            {
                foreach (NodeProcess n in nodes)
                {
                    if ((await n.StatusAsync()).LiveMembers != nodes.Count) return false;
                }
                return true;
            }, TimeSpan.FromSeconds(30), "four nodes in three regions to see each other");

            using var http = new HttpClient();
            async Task ReadThrough(NodeProcess node)
            {
                byte[] body = await http.GetByteArrayAsync($"{node.Endpoint}/{Dataset.Container}/{name}");
                Assert.Equal(fixture.Dataset.Sha256[name], Convert.ToHexStringLower(SHA256.HashData(body)));
            }
            await ReadThrough(nodes[0]);
            long chunks = (fixture.Dataset.Lengths[name] + (4 << 20) - 1) / (4 << 20);

            await ReadThrough(nodes[2]); // west pools with east
            StatusReport west = await nodes[2].StatusAsync();
            Assert.Equal(0, west.BlobGets);
            Assert.True(west.ReadsBySource["peer_remote_region"] > 0, "west read nothing from east");
            // Read-ahead may have brought a chunk in before the reader asked: then the read is a memory hit.
            Assert.Equal(chunks, west.ReadsBySource["peer_remote_region"] + west.ReadsBySource["memory"]);

            await ReadThrough(nodes[3]); // north does not pool: it reads Blob itself, once per chunk for its region
            StatusReport north = await nodes[3].StatusAsync();
            Assert.Equal(chunks, north.BlobGets);
            Assert.Equal(0, north.ReadsBySource["peer_remote_region"]);
        }
        finally
        {
            foreach (NodeProcess n in nodes) await n.DisposeAsync();
        }
    }
}
