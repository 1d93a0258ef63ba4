using BlobCache.Fuse;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Mount;

/// <summary>A real node process with its read-only FUSE mount of one container at a temporary directory.</summary>
public sealed class MountedNode : IAsyncDisposable
{
    private readonly TempDir _dir;

    private MountedNode(NodeProcess node, TempDir dir)
    {
        Node = node;
        _dir = dir;
    }

    public NodeProcess Node { get; }

    /// <summary>Where the container is mounted.</summary>
    public string Directory => _dir.Path;

    /// <summary>Mount tests need the kernel's FUSE device; they skip only where it is absent (fuse3 itself CI installs).</summary>
    public static bool FuseAvailable => File.Exists("/dev/fuse");

    public const string NoFuse = "/dev/fuse is absent: this kernel or container cannot mount FUSE file systems";

    public static bool IsMounted(string directory) => MountTable.Find(directory)?.Type == "fuse.blobcache";

    /// <summary>Starts a node serving <paramref name="container"/> at a new directory, and waits until the kernel has the mount.</summary>
    public static async Task<MountedNode> StartAsync(string id, string origin, IReadOnlyList<string> seeds, string container, params string[] extra)
    {
        var dir = new TempDir($"blobcache-mount-{id}-");
        return await StartAtAsync(dir, id, origin, seeds, container, extra).ConfigureAwait(false);
    }

    /// <summary>As <see cref="StartAsync"/>, at a directory of the caller's (a node restarting where another was).</summary>
    public static async Task<MountedNode> StartAtAsync(TempDir dir, string id, string origin, IReadOnlyList<string> seeds, string container, params string[] extra)
    {
        NodeProcess node = NodeProcess.Start(id, origin, seeds, [.. extra, "--mount", $"{Azurite.Account}/{container}:{dir.Path}"]);
        var mounted = new MountedNode(node, dir);
        try
        {
            await Wait.UntilAsync(() =>
            {
                if (node.HasExited) throw new InvalidOperationException($"node {id} exited with {node.ExitCode}:\n{node.Log}");
                return Task.FromResult(node.Log.Contains($"read-only at {dir.Path} ", StringComparison.Ordinal) && IsMounted(dir.Path));
            }, TimeSpan.FromSeconds(60), $"node {id} to mount {container} at {dir.Path}").ConfigureAwait(false);
            return mounted;
        }
        catch
        {
            await mounted.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Kills the node (if still running) and detaches whatever it left mounted, so the directory can go.</summary>
    public async ValueTask DisposeAsync()
    {
        await Node.DisposeAsync().ConfigureAwait(false);
        await DetachAsync(Directory).ConfigureAwait(false);
        _dir.Dispose();
    }

    /// <summary>Lazily unmounts a (possibly dead) mount at <paramref name="directory"/>, as an operator would.</summary>
    public static async Task<(int Code, string Output)> DetachAsync(string directory)
    {
        if (MountTable.Find(directory) is null) return (0, "");
        return await Shell.RunAsync("fusermount3", "-u", "-z", directory).ConfigureAwait(false);
    }
}
