using BlobCache.Node.Cli;
using BlobCache.Node.Config;
using BlobCache.Node.Hosting;

// blobcache: the sidecar node. `run` serves; the other commands talk to a running node.
string command = args.Length > 0 ? args[0] : "help";
string[] rest = args.Length > 0 ? args[1..] : [];
try
{
    switch (command)
    {
        case "run":
        {
            if (rest.Contains("--help")) return Usage(0);
            NodeOptions options = OptionParser.Parse(rest, EnvironmentVariables());
            return await NodeHost.RunAsync(options);
        }
        case "mount":
            if (rest.Contains("--help")) return Usage(0);
            return await MountCommand.RunAsync(rest, EnvironmentVariables());
        case "demo":
            return await DemoCommand.RunAsync(rest);
        case "warm":
            return await WarmCommand.RunAsync(rest);
        case "status":
            return await StatusCommand.RunAsync(rest);
        case "keygen":
            if (rest.Length > 0)
            {
                Console.Error.WriteLine("blobcache keygen: takes no options (prints one new key)");
                return 2;
            }
            Console.WriteLine(BlobCache.Protocol.Security.KeyringText.NewKey());
            return 0;
        case "help" or "--help" or "-h":
            return Usage(0);
        default:
            Console.Error.WriteLine($"blobcache: unknown command '{command}'");
            return Usage(2);
    }
}
catch (OptionException e)
{
    Console.Error.WriteLine($"blobcache: {e.Message}");
    return 2;
}

static Dictionary<string, string?> EnvironmentVariables() =>
    Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
        .ToDictionary(e => (string)e.Key, e => (string?)e.Value, StringComparer.Ordinal);

static int Usage(int code)
{
    TextWriter w = code == 0 ? Console.Out : Console.Error;
    w.WriteLine("""
        usage: blobcache COMMAND [options]

          demo     start Azurite (or a built-in origin) and a local mesh of 3 nodes, read a dataset twice through it
          run      serve the local Blob endpoint and join the mesh
          mount    ACCOUNT/CONTAINER[/PREFIX] DIR: run with a read-only FUSE mount of the cache at DIR (Linux; root, /dev/fuse)
          warm     ACCOUNT/CONTAINER[/PREFIX]: have each chunk's owner load it, with progress (--http-port P)
          status   print the members a running node sees and its hit ratios (--http-port P, --host H)
          keygen   print a new random gossip key (base64, 32 bytes): a line for --gossip-key-file

        options of run and mount (each also as BLOBCACHE_* environment variable or in a --config JSON file):
        """);
    w.WriteLine(OptionParser.Help());
    return code;
}
