using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Azure.Storage.Blobs;
using BlobCache.Node.Tests.Faults;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;
using Xunit.Abstractions;

namespace BlobCache.Node.Tests.Mount;

/// <summary>What a mount promises: read-only, ENOENT for what is missing, one version per open, EIO (never a hang, never wrong bytes) when Blob is down.</summary>
[Collection(MeshCollection.Name)]
public sealed class MountConsistencyTests(MeshFixture fixture, ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Writes_renames_and_deletes_fail_with_EROFS_and_missing_names_with_ENOENT()
    {
        Skip.IfNot(MountedNode.FuseAvailable, MountedNode.NoFuse);
        await using MountedNode mount = await MountedNode.StartAsync("mro", fixture.Azurite.ConnectionString, [], Dataset.Container);
        const string probe = """
            import errno, json, os, sys
            root = sys.argv[1]
            def code(action):
                try:
                    action()
                    return "ok"
                except OSError as e:
                    return errno.errorcode[e.errno]
            p = lambda *parts: os.path.join(root, *parts)
            print(json.dumps({
                "overwrite": code(lambda: open(p("edge", "one.bin"), "wb")),
                "append": code(lambda: open(p("edge", "one.bin"), "ab")),
                "create": code(lambda: open(p("edge", "new.bin"), "wb")),
                "delete": code(lambda: os.remove(p("edge", "one.bin"))),
                "rename": code(lambda: os.rename(p("edge", "one.bin"), p("edge", "two.bin"))),
                "mkdir": code(lambda: os.mkdir(p("newdir"))),
                "rmdir": code(lambda: os.rmdir(p("edge"))),
                "truncate": code(lambda: os.truncate(p("edge", "one.bin"), 0)),
                "missing file": code(lambda: open(p("edge", "no-such.bin"), "rb")),
                "missing directory": code(lambda: os.listdir(p("no-such-dir"))),
                "file as directory": code(lambda: os.listdir(p("edge", "one.bin"))),
                "read": code(lambda: open(p("edge", "one.bin"), "rb").read()),
            }))
            """;
        (int code, string text) = await Shell.RunAsync(Python.Interpreter, "-c", probe, mount.Directory);
        Assert.True(code == 0, text);
        Dictionary<string, string> got = JsonSerializer.Deserialize<Dictionary<string, string>>(text)!;
        Survivors.Say(output, "errors on the mount: " + string.Join(", ", got.Select(kv => $"{kv.Key} {kv.Value}")));
        foreach (string write in new[] { "overwrite", "append", "create", "delete", "rename", "mkdir", "rmdir", "truncate" })
            Assert.True(got[write] == "EROFS", $"{write} gave {got[write]}, not EROFS");
        Assert.Equal("ENOENT", got["missing file"]);
        Assert.Equal("ENOENT", got["missing directory"]);
        Assert.Equal("ENOTDIR", got["file as directory"]);
        Assert.Equal("ok", got["read"]);
    }

    [SkippableFact]
    public async Task An_open_file_reads_its_version_whole_while_an_overwrite_shows_at_the_next_open_within_the_TTL()
    {
        Skip.IfNot(MountedNode.FuseAvailable, MountedNode.NoFuse);
        // Two seconds: an overwrite that took two TTLs to show (kernel entry cache on top of the node's) would fail below.
        const double ttl = 2;
        BlobContainerClient container = fixture.Azurite.Client.GetBlobContainerClient("mount-overwrite");
        await container.CreateIfNotExistsAsync();
        byte[] first = RandomNumberGenerator.GetBytes(9 * 1024 * 1024 + 5), second = RandomNumberGenerator.GetBytes(5 * 1024 * 1024 + 1);
        await container.GetBlobClient("v.bin").UploadAsync(new BinaryData(first), overwrite: true);
        await using MountedNode mount = await MountedNode.StartAsync("mover", fixture.Azurite.ConnectionString, [], "mount-overwrite",
            "--metadata-ttl-seconds", "2");
        string path = Path.Combine(mount.Directory, "v.bin");

        await using var open = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        byte[] head = new byte[1024 * 1024];
        await open.ReadExactlyAsync(head);
        await container.GetBlobClient("v.bin").UploadAsync(new BinaryData(second), overwrite: true);
        var sinceOverwrite = Stopwatch.StartNew();
        // A new open sees the new version once the TTL has passed (the node's metadata cache), not later.
        await Wait.UntilAsync(() => Task.FromResult(File.ReadAllBytes(path).AsSpan().SequenceEqual(second)), TimeSpan.FromSeconds(10 * ttl), "a new open to read the new version");
        TimeSpan visibleAfter = sinceOverwrite.Elapsed;

        // The handle opened before still reads the first version, to its end.
        using var rest = new MemoryStream();
        await open.CopyToAsync(rest);
        Survivors.Say(output, $"overwrite visible to a new open after {visibleAfter.TotalSeconds:F2} s (TTL {ttl} s); the handle opened before read {head.Length + rest.Length} bytes of the old version");
        Assert.True(head.Concat(rest.ToArray()).SequenceEqual(first), "the handle opened before the overwrite did not read the old version whole");
        Assert.Equal(second.Length, new FileInfo(path).Length);
        Assert.True(visibleAfter < TimeSpan.FromSeconds(ttl + 1.5), $"the overwrite took {visibleAfter.TotalSeconds:F2} s to show with a {ttl} s TTL");
    }

    [SkippableFact]
    public async Task With_Blob_not_answering_a_read_fails_with_EIO_within_the_nodes_retries_logs_why_and_reads_right_once_it_is_back()
    {
        Skip.IfNot(MountedNode.FuseAvailable, MountedNode.NoFuse);
        const string name = "big/forty.bin";
        await using var proxy = new FaultProxy(fixture.Azurite.Port);
        proxy.Start();
        await using MountedNode mount = await MountedNode.StartAsync("mdown", Azurite.ConnectionStringFor(proxy.Port), [], Dataset.Container,
            "--origin-retries", "1", "--origin-timeout-ms", "1000");
        string path = Path.Combine(mount.Directory, "big", "forty.bin");
        using Microsoft.Win32.SafeHandles.SafeFileHandle file = File.OpenHandle(path);
        byte[] buffer = new byte[64 * 1024];
        Assert.Equal(buffer.Length, RandomAccess.Read(file, buffer, 0));

        // Blob stops answering reads of this blob; the last chunk is not in any cache (read-ahead covers the first few).
        proxy.Rule = r => r.Method == "GET" && r.RangeStart is not null && r.Path.EndsWith("/" + name, StringComparison.Ordinal) ? Fault.Hang : Fault.Pass;
        var clock = Stopwatch.StartNew();
        IOException failed = Assert.ThrowsAny<IOException>(() => RandomAccess.Read(file, buffer, fixture.Dataset.Lengths[name] - 4096));
        TimeSpan took = clock.Elapsed;
        Survivors.Say(output, $"Blob hanging: the read failed after {took.TotalSeconds:F1} s with '{failed.Message}' (1 retry of 1 s)");
        Assert.Contains("Input/output error", failed.Message, StringComparison.Ordinal);
        Assert.True(took < TimeSpan.FromSeconds(15), $"the read took {took.TotalSeconds:F1} s to fail");
        await Wait.UntilAsync(() => Task.FromResult(mount.Node.Log.Contains("the reader gets EIO", StringComparison.Ordinal)), TimeSpan.FromSeconds(5), "the node to log the failed read");

        proxy.Rule = _ => Fault.Pass;
        Assert.Equal(fixture.Dataset.Sha256[name], Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))));
    }
}
