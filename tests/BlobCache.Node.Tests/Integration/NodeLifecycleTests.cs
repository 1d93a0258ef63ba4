using System.Diagnostics;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Integration;

/// <summary>Starting, configuring, observing and stopping real node processes.</summary>
[Collection(MeshCollection.Name)]
public sealed class NodeLifecycleTests(MeshFixture fixture)
{
    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(IEnumerable<string> args, Dictionary<string, string>? env = null)
    {
        using Process p = NodeProcess.Launch(args, env ?? []);
        Task<string> stdout = p.StandardOutput.ReadToEndAsync(), stderr = p.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync(deadline.Token);
        return (p.ExitCode, await stdout, await stderr);
    }

    [Theory]
    [InlineData("--http-port", "99999", "--http-port")]
    [InlineData("--chunk-size-mb", "0", "--chunk-size-mb")]
    [InlineData("--peer-transport", "carrier-pigeon", "--peer-transport")]
    [InlineData("--seeds", "no-port-here", "--seeds")]
    [InlineData("--origin", "not a connection string", "--origin")]
    [InlineData("--no-such-flag", "1", "--no-such-flag")]
    [InlineData("--account-aliases", "Not_An_Account", "--account-aliases")]
    public async Task A_bad_flag_stops_the_node_with_one_line_naming_it(string flag, string value, string named)
    {
        (int code, _, string stderr) = await RunAsync(["run", flag, value]);
        Assert.Equal(2, code);
        string[] lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains(named, lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Environment_variables_and_config_files_are_checked_the_same_way()
    {
        (int code, _, string stderr) = await RunAsync(["run"], new() { ["BLOBCACHE_MEMORY_MB"] = "lots" });
        Assert.Equal(2, code);
        Assert.Contains("BLOBCACHE_MEMORY_MB", stderr, StringComparison.Ordinal);

        string file = Path.GetTempFileName();
        await File.WriteAllTextAsync(file, """{ "http_port": 8080, "zone": "has space" }""");
        (code, _, stderr) = await RunAsync(["run", "--config", file]);
        File.Delete(file);
        Assert.Equal(2, code);
        Assert.Contains("\"zone\"", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_node_needs_a_gossip_key_file_or_insecure_and_a_bad_key_file_names_its_line()
    {
        (int code, _, string stderr) = await RunAsync(["run", "--origin", "sample"]);
        Assert.Equal(2, code);
        Assert.Equal("blobcache: gossip needs a shared key: pass --gossip-key-file FILE (make one with `blobcache keygen > FILE`, same file on every node), or --insecure for local development",
            stderr.Trim());

        (code, string key, stderr) = await RunAsync(["keygen"]);
        Assert.True(code == 0, stderr);
        Assert.Single(BlobCache.Protocol.Security.KeyringText.Parse(key));

        string file = Path.GetTempFileName();
        await File.WriteAllTextAsync(file, key.Trim() + "\nAAAA\n");
        (code, _, stderr) = await RunAsync(["run", "--origin", "sample", "--gossip-key-file", file]);
        Assert.Equal(2, code);
        Assert.Equal($"blobcache: --gossip-key-file {file}: line 2: a key of 3 bytes, expected 32", stderr.Trim());
        (code, _, stderr) = await RunAsync(["run", "--origin", "sample", "--insecure"], new() { ["BLOBCACHE_GOSSIP_KEY_FILE"] = file });
        File.Delete(file);
        Assert.Equal(2, code);
        // A key file given with --insecure is still used (here: read, and refused), never silently skipped.
        Assert.Equal($"blobcache: --gossip-key-file {file}: line 2: a key of 3 bytes, expected 32", stderr.Trim());
    }

    [Fact]
    public async Task Status_metrics_and_graceful_leave()
    {
        List<NodeProcess> nodes = await fixture.StartMeshAsync("life", 2);
        try
        {
            using var http = new HttpClient();
            byte[] one = await http.GetByteArrayAsync($"{nodes[0].Endpoint}/{Dataset.Container}/edge/one.bin");
            Assert.Single(one);

            (int code, string stdout, string stderr) = await RunAsync(["status", "--http-port", nodes[0].HttpPort.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            Assert.True(code == 0, stderr);
            string[] lines = stdout.Split('\n');
            Assert.StartsWith("life-0 ", lines[0], StringComparison.Ordinal);
            Assert.StartsWith("life-1 ", lines[1], StringComparison.Ordinal);
            Assert.Contains("alive", lines[1], StringComparison.Ordinal);
            Assert.Contains(lines, l => l.TrimStart().StartsWith("memory", StringComparison.Ordinal));

            string metrics = await http.GetStringAsync($"http://127.0.0.1:{nodes[0].HttpPort}/metrics");
            Assert.Contains("blobcache_chunk_reads", metrics, StringComparison.Ordinal);
            Assert.Contains("blobcache_members", metrics, StringComparison.Ordinal);

            Assert.Equal(0, await nodes[1].StopAsync(TimeSpan.FromSeconds(30)));
            await Wait.UntilAsync(async () =>
                (await nodes[0].StatusAsync()).Members.Any(m => m.Id == "life-1" && m.State == "left"),
                TimeSpan.FromSeconds(20), "life-0 to see life-1 leave");
        }
        finally
        {
            foreach (NodeProcess n in nodes) await n.DisposeAsync();
        }
    }
}
