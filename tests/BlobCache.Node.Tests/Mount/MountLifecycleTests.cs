using System.Diagnostics;
using System.Globalization;
using BlobCache.Node.Tests.Faults;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;
using Xunit.Abstractions;

namespace BlobCache.Node.Tests.Mount;

/// <summary>A mount's node going away with files open: stopped (SIGTERM) or killed (-9). Nobody hangs; nothing is left stuck.</summary>
[Collection(MeshCollection.Name)]
public sealed class MountLifecycleTests(MeshFixture fixture, ITestOutputHelper output)
{
    private const string Big = "big/hundred.bin";

    /// <summary>python hold_open.py: a reader with a file open across whatever the test does to its node.</summary>
    private sealed class HeldFile : IAsyncDisposable
    {
        private readonly Process _process;

        public HeldFile(string path, long offset)
        {
            var psi = new ProcessStartInfo(Python.Interpreter) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in new[] { Python.Script("hold_open.py"), path, offset.ToString(CultureInfo.InvariantCulture) }) psi.ArgumentList.Add(a);
            _process = Process.Start(psi)!;
        }

        public async Task ReadyAsync()
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            string? line = null;
            try
            {
                line = await _process.StandardOutput.ReadLineAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
            }
            if (line == "ready") return;
            if (!_process.HasExited) _process.Kill();
            Assert.Fail($"the reader said '{line}' instead of 'ready': {await _process.StandardError.ReadToEndAsync()}");
        }

        /// <summary>Lets the reader read again; its answer: "ok BYTES SECONDS" or "error ERRNO SECONDS", and it exits.</summary>
        public async Task<string[]> ReadAgainAsync(TimeSpan deadline)
        {
            await _process.StandardInput.WriteLineAsync();
            await _process.StandardInput.FlushAsync();
            using var cts = new CancellationTokenSource(deadline);
            string? line = await _process.StandardOutput.ReadLineAsync(cts.Token);
            await _process.WaitForExitAsync(cts.Token);
            return (line ?? "").Split(' ');
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited) _process.Kill();
            await _process.WaitForExitAsync();
            _process.Dispose();
        }
    }

    [SkippableFact]
    public async Task SIGTERM_unmounts_with_files_open_and_their_readers_get_an_answer_not_a_hang()
    {
        Skip.IfNot(MountedNode.FuseAvailable, MountedNode.NoFuse);
        await using MountedNode mount = await MountedNode.StartAsync("mterm", fixture.Azurite.ConnectionString, [], Dataset.Container);
        await using var reader = new HeldFile(Path.Combine(mount.Directory, Big), 90L << 20);
        await reader.ReadyAsync();

        var clock = Stopwatch.StartNew();
        int code = await mount.Node.StopAsync(TimeSpan.FromSeconds(30));
        Survivors.Say(output, $"SIGTERM with a file open: the node exited with {code} after {clock.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(0, code);
        Assert.False(MountedNode.IsMounted(mount.Directory), "the node exited and left its mount behind");
        Assert.Contains("unmounted " + mount.Directory, mount.Node.Log, StringComparison.Ordinal);

        // The reader's next read of bytes it never had: an error at once (the connection is gone), never a hang.
        string[] answer = await reader.ReadAgainAsync(TimeSpan.FromSeconds(10));
        Survivors.Say(output, $"the reader holding a file open read again after the unmount: {string.Join(' ', answer)}");
        Assert.Equal("error", answer[0]);
        Assert.True(Directory.Exists(mount.Directory), "the mount directory is not usable after the unmount");
    }

    [SkippableFact]
    public async Task A_killed_nodes_readers_fail_fast_and_its_dead_mount_is_cleared_by_fusermount_or_by_the_next_node()
    {
        Skip.IfNot(MountedNode.FuseAvailable, MountedNode.NoFuse);
        using var dir = new TempDir("blobcache-mount-killed-");
        MountedNode? first = null, second = null;
        try
        {
            first = await MountedNode.StartAtAsync(dir, "mkill-1", fixture.Azurite.ConnectionString, [], Dataset.Container);
            await using (var reader = new HeldFile(Path.Combine(dir.Path, Big), 90L << 20))
            {
                await reader.ReadyAsync();
                first.Node.Kill();
                string[] answer = await reader.ReadAgainAsync(TimeSpan.FromSeconds(10));
                Survivors.Say(output, $"kill -9 of the node with a file open: the reader's next read gave {string.Join(' ', answer)}");
                Assert.Equal(["error", "107"], answer[..2]); // ENOTCONN: the kernel answers for the dead server
                Assert.True(double.Parse(answer[2], CultureInfo.InvariantCulture) < 2, "the reader waited for a dead node");
            }
            Assert.True(MountedNode.IsMounted(dir.Path), "expected the dead mount to stay until someone clears it");
            Assert.Throws<IOException>(() => Directory.GetFiles(dir.Path));

            // A node started on the same directory (the DaemonSet's pod restarting) detaches the dead mount and serves.
            second = await MountedNode.StartAtAsync(dir, "mkill-2", fixture.Azurite.ConnectionString, [], Dataset.Container);
            Assert.Contains("detached a dead fuse.blobcache mount", second.Node.Log, StringComparison.Ordinal);
            Assert.Equal(fixture.Dataset.Lengths[Big], new FileInfo(Path.Combine(dir.Path, Big)).Length);

            // Killed again, an operator clears it with fusermount3 -u -z.
            second.Node.Kill();
            await Wait.UntilAsync(() => Task.FromResult(second.Node.HasExited), TimeSpan.FromSeconds(10), "the node to die");
            (int code, string text) = await MountedNode.DetachAsync(dir.Path);
            Assert.True(code == 0, $"fusermount3 -u -z failed: {text}");
            Assert.False(MountedNode.IsMounted(dir.Path));
            Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
        }
        finally
        {
            if (first is not null) await first.DisposeAsync();
            if (second is not null) await second.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_mount_that_cannot_be_made_stops_the_node_with_exit_code_2_saying_why()
    {
        using var dir = new TempDir("blobcache-mount-bad-");
        await using NodeProcess node = NodeProcess.Start("mbad", fixture.Azurite.ConnectionString, [], "--mount", $"otheraccount/{Dataset.Container}:{dir.Path}");
        await Wait.UntilAsync(() => Task.FromResult(node.HasExited), TimeSpan.FromSeconds(60), "the node to stop");
        Assert.Equal(2, node.ExitCode);
        Assert.Contains($"--mount otheraccount/{Dataset.Container}:{dir.Path}: this node caches account '{Azurite.Account}', not 'otheraccount'", node.Log, StringComparison.Ordinal);
        Assert.False(MountedNode.IsMounted(dir.Path));
    }
}
