using System.Diagnostics;
using System.Text.Json;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Integration;

/// <summary>Debian's python3-azure-storage (sync with python3-torch, and asyncio) and python3-fsspec read the dataset through a real node.</summary>
[Collection(MeshCollection.Name)]
public sealed class PythonClientTests(MeshFixture fixture) : IAsyncLifetime
{
    private const string Python = "/usr/bin/python3";
    private List<NodeProcess> _nodes = [];

    public async Task InitializeAsync() => _nodes = await fixture.StartMeshAsync("py", 2);

    public async Task DisposeAsync()
    {
        foreach (NodeProcess n in _nodes) await n.DisposeAsync();
    }

    // The test command, ./test.sh, installs these packages when they are missing. A machine without them fails
    // here, saying what to install, rather than skipping: a skipped client test would pass a broken client path.
    private static async Task AssertDebianPackagesAsync()
    {
        (int code, string output) = await Shell.RunAsync(Python, "-c", "import azure.storage.blob, torch");
        Assert.True(code == 0, "Debian's python3-azure-storage and python3-torch are needed: ./test.sh installs them " +
            $"(apt-get install python3-azure-storage python3-torch)\n{output}");
    }

    [Fact]
    public async Task A_PyTorch_DataLoader_with_workers_reads_every_blob_byte_exact()
    {
        await AssertDebianPackagesAsync();
        await AssertEveryBlobExactAsync(await RunScriptAsync("read_dataset.py", [Azurite.ConnectionStringFor(_nodes[1].HttpPort), Dataset.Container, "4"]));
    }

    [Fact]
    public async Task The_asyncio_SDK_lists_and_reads_every_blob_byte_exact_with_every_range_MD5_checked()
    {
        await AssertDebianPackagesAsync();
        await AssertEveryBlobExactAsync(await RunScriptAsync("read_dataset_aio.py", [Azurite.ConnectionStringFor(_nodes[1].HttpPort), Dataset.Container]));
    }

    [Fact]
    public async Task Fsspec_over_plain_HTTP_reads_every_blob_byte_exact_in_ranged_blocks()
    {
        (int code, string output) = await Shell.RunAsync(Python, "-c", "import fsspec, aiohttp");
        Assert.True(code == 0, $"Debian's python3-fsspec and python3-aiohttp are needed: ./test.sh installs them\n{output}");
        string names = string.Join("\n", fixture.Dataset.Sha256.Keys);
        await AssertEveryBlobExactAsync(await RunScriptAsync("read_dataset_fsspec.py", [_nodes[1].Endpoint, Dataset.Container], names));
    }

    private async Task AssertEveryBlobExactAsync(string json)
    {
        Dictionary<string, string> hashes = JsonSerializer.Deserialize<Dictionary<string, string>>(json)!;
        Assert.Equal(fixture.Dataset.Sha256.Count, hashes.Count);
        foreach ((string name, string sha) in fixture.Dataset.Sha256) Assert.True(hashes[name] == sha, $"{name} read by Python has wrong bytes");
        Assert.True((await _nodes[1].StatusAsync()).ReadsBySource.Values.Sum() > 0, "the reads did not go through the node");
    }

    /// <summary>Runs one of the python/ scripts to its end (bounded); its stdout, or the test fails with its stderr.</summary>
    private static async Task<string> RunScriptAsync(string script, string[] args, string? stdin = null)
    {
        var psi = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "python", script));
        foreach (string a in args) psi.ArgumentList.Add(a);
        using Process process = Process.Start(psi)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null) await process.StandardInput.WriteAsync(stdin);
        process.StandardInput.Close();
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(deadline.Token);
        Assert.True(process.ExitCode == 0, $"{script} exited with {process.ExitCode}: {await stderr}");
        return await stdout;
    }
}
