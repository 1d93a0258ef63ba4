using System.Diagnostics;
using System.Text.Json;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Integration;

/// <summary>Debian's python3-azure-storage and python3-torch read the dataset through a real node.</summary>
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
        string script = Path.Combine(AppContext.BaseDirectory, "python", "read_dataset.py");
        var psi = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(Azurite.ConnectionStringFor(_nodes[1].HttpPort));
        psi.ArgumentList.Add(Dataset.Container);
        psi.ArgumentList.Add("4");
        using Process process = Process.Start(psi)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(deadline.Token);
        Assert.True(process.ExitCode == 0, $"python exited with {process.ExitCode}: {await stderr}");
        Dictionary<string, string> hashes = JsonSerializer.Deserialize<Dictionary<string, string>>(await stdout)!;
        Assert.Equal(fixture.Dataset.Sha256.Count, hashes.Count);
        foreach ((string name, string sha) in fixture.Dataset.Sha256) Assert.True(hashes[name] == sha, $"{name} read by Python has wrong bytes");
        Assert.True((await _nodes[1].StatusAsync()).ReadsBySource.Values.Sum() > 0, "the reads did not go through the node");
    }
}
