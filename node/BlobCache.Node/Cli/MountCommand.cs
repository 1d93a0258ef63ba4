using System.Net;
using BlobCache.Node.Config;
using BlobCache.Node.Hosting;

namespace BlobCache.Node.Cli;

/// <summary>
/// <c>blobcache mount ACCOUNT/CONTAINER[/PREFIX] DIR [options of run]</c>: <c>run</c> with one more mount. Alone on
/// loopback (no <c>--seeds</c>, the default bind address) and given no keyring, the node gossips with no one, so it
/// needs none: it starts as under <c>--insecure</c>.
/// </summary>
public static class MountCommand
{
    public const string Usage = "usage: blobcache mount ACCOUNT/CONTAINER[/PREFIX] DIR [options of run]";

    public static async Task<int> RunAsync(string[] args, IReadOnlyDictionary<string, string?> environment)
    {
        if (args.Length < 2 || args[0].StartsWith("--", StringComparison.Ordinal) || args[1].StartsWith("--", StringComparison.Ordinal))
        {
            Console.Error.WriteLine("blobcache mount: " + Usage);
            return 2;
        }
        MountSpec spec = MountSpec.Of(args[0], args[1], "blobcache mount");
        NodeOptions options = OptionParser.Parse(args[2..], environment);
        options = options with { Mounts = [.. options.Mounts, spec] };
        if (options.GossipKeyFile is null && !options.Insecure && options.Seeds.Count == 0 && IPAddress.TryParse(options.Host, out IPAddress? host) && IPAddress.IsLoopback(host))
            options = options with { Insecure = true };
        return await NodeHost.RunAsync(options).ConfigureAwait(false);
    }
}
