using System.Diagnostics;
using System.Security.Cryptography;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Sas;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;
using Xunit.Abstractions;

namespace BlobCache.Node.Tests.Integration;

/// <summary>AzCopy (npm's @azure-tools/azcopy-linux, installed into tools/azcopy by ./test.sh) copies a prefix through a real node.</summary>
[Collection(MeshCollection.Name)]
public sealed class AzCopyTests(MeshFixture fixture, ITestOutputHelper output)
{
    private const string Prefix = "azcopy-prefix/";

    private static string AzCopy => Path.Combine(Repo.Root, "tools", "azcopy", "node_modules", "@azure-tools", "azcopy-linux", "dist", "bin", "azcopy_linux_amd64");

    [Fact]
    public async Task AzCopy_copies_a_prefix_through_a_node_byte_exact_with_every_MD5_checked()
    {
        Assert.True(File.Exists(AzCopy), $"AzCopy is needed: ./test.sh installs it (npm install --prefix tools/azcopy); not found at {AzCopy}");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(AzCopy, File.GetUnixFileMode(AzCopy) | UnixFileMode.UserExecute);
        // A container of its own: the mesh's other tests (the mounts among them) list the shared dataset container.
        BlobContainerClient container = fixture.Azurite.Client.GetBlobContainerClient("azcopy");
        await container.CreateIfNotExistsAsync();
        var expected = new Dictionary<string, byte[]>();
        var random = new Random(33);
        foreach ((string name, int length) in new[] { ("a.bin", 1000), ("sub/b.bin", (4 << 20) + 5), ("sub/deeper/c.bin", 9 << 20), ("empty.bin", 0) })
        {
            byte[] data = new byte[length];
            random.NextBytes(data);
            expected[name] = data;
            // Content-MD5 as an uploader that sets it leaves it: AzCopy's FailIfDifferentOrMissing needs one on every blob.
            await container.GetBlobClient(Prefix + name).UploadAsync(new BinaryData(data), new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentHash = MD5.HashData(data) } });
        }
        await using NodeProcess node = NodeProcess.Start("azcopy", fixture.Azurite.ConnectionString, []);
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
        // AzCopy wants a credential on the URL; the node reads with its own and does not check this one. A loopback
        // URL does not say it is Blob, so --from-to does.
        string sas = container.GenerateSasUri(BlobContainerSasPermissions.Read | BlobContainerSasPermissions.List, DateTimeOffset.UtcNow.AddHours(1)).Query;
        using var dir = new TempDir("blobcache-azcopy-");
        string target = Path.Combine(dir.Path, "out");
        Directory.CreateDirectory(target);
        (int code, string log) = await RunAzCopyAsync(dir.Path, "copy", $"{node.Endpoint}/{container.Name}/{Prefix.TrimEnd('/')}{sas}", target,
            "--from-to", "BlobLocal", "--recursive", "--check-md5", "FailIfDifferentOrMissing", "--output-level", "essential");
        output.WriteLine(log);
        Assert.True(code == 0, $"azcopy exited with {code}:\n{log}");
        foreach ((string name, byte[] data) in expected)
        {
            string file = Path.Combine(target, Prefix.TrimEnd('/'), name);
            Assert.True(File.Exists(file), $"{name} was not copied");
            byte[] copied = await File.ReadAllBytesAsync(file);
            Assert.True(data.AsSpan().SequenceEqual(copied), $"{name} was copied with wrong bytes");
        }
        Assert.True((await node.StatusAsync()).ReadsBySource.Values.Sum() > 0, "the copy did not read through the node");
    }

    private static async Task<(int Code, string Output)> RunAzCopyAsync(string workDir, params string[] args)
    {
        var psi = new ProcessStartInfo(AzCopy) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) psi.ArgumentList.Add(a);
        // Its logs and job plans in the test's directory, never the user's ~/.azcopy.
        psi.Environment["AZCOPY_LOG_LOCATION"] = Path.Combine(workDir, "logs");
        psi.Environment["AZCOPY_JOB_PLAN_LOCATION"] = Path.Combine(workDir, "plans");
        psi.Environment["AZCOPY_DISABLE_SYSLOG"] = "true";
        using Process p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync(), stderr = p.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await p.WaitForExitAsync(deadline.Token);
        return (p.ExitCode, await stdout + await stderr);
    }
}
