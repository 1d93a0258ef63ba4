using BlobCache.Fuse;
using BlobCache.Node.Config;
using BlobCache.Node.Origin;
using BlobCache.Node.Reading;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Mount;

/// <summary>
/// The node's read-only FUSE mounts (<c>--mount</c>), served in-process by the node's read path; unmounted when the
/// node stops.
/// </summary>
public sealed class NodeMounts : IDisposable
{
    private readonly List<FuseMount> _mounts = [];

    private NodeMounts()
    {
    }

    /// <summary>
    /// Mounts every <see cref="NodeOptions.Mounts"/>; null (after printing why) when one cannot be made, with those
    /// already made unmounted again.
    /// </summary>
    public static NodeMounts? Start(NodeOptions options, IBlobOrigin origin, BlobMetadataCache metadata, ChunkReader reader, ILoggerFactory loggers)
    {
        var mounts = new NodeMounts();
        ILogger log = loggers.CreateLogger("blobcache.mount");
        // The kernel reads ahead as far as the node does (whole chunks), within bounds that keep random mmap faults cheap.
        uint readAhead = (uint)Math.Clamp((long)options.ReadAheadChunks * options.ChunkSize, 128 * 1024, 16 << 20);
        foreach (MountSpec spec in options.Mounts)
        {
            try
            {
                if (spec.Account != origin.AccountName && !options.AccountAliases.Contains(spec.Account))
                    throw new FuseMountException($"this node caches account '{origin.AccountName}', not '{spec.Account}'");
                var fs = new ReadOnlyFileSystem(new BlobMountSource(spec, origin, metadata, reader), spec.Source,
                    TimeSpan.FromSeconds(options.MetadataTtlSeconds), log);
                FuseMount mount = FuseMount.Start(spec.Directory, fs, new FuseMountSettings("blobcache:" + spec.Source, readAhead), log);
                mounts._mounts.Add(mount);
                log.LogInformation("mounted {Source} read-only at {Dir} (metadata TTL {Ttl} s, read-ahead {ReadAhead} KiB)",
                    spec.Source, mount.Directory, options.MetadataTtlSeconds, readAhead >> 10);
            }
            catch (Exception e) when (e is FuseMountException or DllNotFoundException or EntryPointNotFoundException)
            {
                string why = e is FuseMountException ? e.Message : $"libfuse3 cannot be loaded ({e.Message}); install fuse3 (Debian/Ubuntu: apt-get install fuse3)";
                Console.Error.WriteLine($"blobcache: --mount {spec}: {why}");
                mounts.Dispose();
                return null;
            }
        }
        return mounts;
    }

    public void Dispose()
    {
        foreach (FuseMount mount in _mounts) mount.Dispose();
        _mounts.Clear();
    }
}
