using System.Globalization;
using System.Security.Cryptography;
using BlobCache.Node.Hosting;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Integration;

/// <summary>Warm-up across a mesh, and a disk tier that survives a restart.</summary>
[Collection(MeshCollection.Name)]
public sealed class WarmAndDiskTests(MeshFixture fixture)
{
    private const int ChunkSize = 4 * 1024 * 1024;

    [Fact]
    public async Task Warm_has_each_owner_load_its_chunks_once_and_later_reads_skip_Blob()
    {
        List<NodeProcess> nodes = await fixture.StartMeshAsync("warm", 3);
        try
        {
            using var p = NodeProcess.Launch(["warm", $"{Azurite.Account}/{Dataset.Container}/big/", "--http-port", nodes[0].HttpPort.ToString(CultureInfo.InvariantCulture)], new Dictionary<string, string>());
            Task<string> stdout = p.StandardOutput.ReadToEndAsync(), stderr = p.StandardError.ReadToEndAsync();
            using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            await p.WaitForExitAsync(deadline.Token);
            Assert.True(p.ExitCode == 0, await stderr);
            var big = fixture.Dataset.Lengths.Where(kv => kv.Key.StartsWith("big/", StringComparison.Ordinal)).ToList();
            long chunks = big.Sum(kv => (kv.Value + ChunkSize - 1) / ChunkSize);
            Assert.Contains($"{chunks} chunks of {big.Count} blobs", await stdout, StringComparison.Ordinal);
            Assert.Contains(", 0 failed", await stdout, StringComparison.Ordinal);

            var before = new List<StatusReport>();
            foreach (NodeProcess n in nodes) before.Add(await n.StatusAsync());
            Assert.Equal(chunks, before.Sum(s => s.BlobGets));
            Assert.All(before, s => Assert.True(s.BlobGets > 0, $"{s.Node} loaded none of its chunks"));
            Assert.Equal(0, before[0].ReadsBySource["peer"]); // warm-up sends no bytes back to the node that asked

            using var http = new HttpClient();
            foreach ((string name, _) in big)
            {
                byte[] body = await http.GetByteArrayAsync($"{nodes[2].Endpoint}/{Dataset.Container}/{name}");
                Assert.Equal(fixture.Dataset.Sha256[name], Convert.ToHexStringLower(SHA256.HashData(body)));
            }
            long after = 0;
            foreach (NodeProcess n in nodes) after += (await n.StatusAsync()).BlobGets;
            Assert.Equal(chunks, after);
        }
        finally
        {
            foreach (NodeProcess n in nodes) await n.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_disk_tier_survives_a_restart_and_serves_without_Blob()
    {
        string dir = Directory.CreateTempSubdirectory("blobcache-disk-").FullName;
        const string name = "big/seventeen.bin";
        try
        {
            using var http = new HttpClient();
            await using (NodeProcess first = NodeProcess.Start("disk-a", fixture.Azurite.ConnectionString, [], "--cache-dir", dir))
            {
                await first.WaitReadyAsync(TimeSpan.FromSeconds(60));
                byte[] body = await http.GetByteArrayAsync($"{first.Endpoint}/{Dataset.Container}/{name}");
                Assert.Equal(fixture.Dataset.Sha256[name], Convert.ToHexStringLower(SHA256.HashData(body)));
                Assert.Equal(0, await first.StopAsync(TimeSpan.FromSeconds(30))); // graceful: pending disk writes finish
            }
            await using NodeProcess second = NodeProcess.Start("disk-b", fixture.Azurite.ConnectionString, [], "--cache-dir", dir);
            await second.WaitReadyAsync(TimeSpan.FromSeconds(60));
            byte[] again = await http.GetByteArrayAsync($"{second.Endpoint}/{Dataset.Container}/{name}");
            Assert.Equal(fixture.Dataset.Sha256[name], Convert.ToHexStringLower(SHA256.HashData(again)));
            StatusReport s = await second.StatusAsync();
            Assert.Equal(0, s.BlobGets);
            Assert.Equal((fixture.Dataset.Lengths[name] + ChunkSize - 1) / ChunkSize, s.ReadsBySource["disk"]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
