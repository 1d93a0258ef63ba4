using System.Globalization;

namespace BlobCache.Node.Cli;

/// <summary>Where a running node's HTTP endpoint is, from <c>--host H</c> and <c>--http-port P</c>; other arguments are left over.</summary>
public sealed record NodeAddress(string Host, int Port, IReadOnlyList<string> Rest)
{
    /// <summary>Null (after printing why) when an option is malformed.</summary>
    public static NodeAddress? Parse(string command, string[] args)
    {
        string host = "127.0.0.1";
        int port = 7480;
        var rest = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            string? value = i + 1 < args.Length ? args[i + 1] : null;
            switch (args[i])
            {
                case "--http-port" when value is not null && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is > 0 and < 65536:
                case "--host" when value is not null && (host = value) == value:
                    i++;
                    break;
                case "--http-port" or "--host":
                    Console.Error.WriteLine($"blobcache {command}: {args[i]} needs a value (--http-port 1..65535, --host NAME)");
                    return null;
                default:
                    rest.Add(args[i]);
                    break;
            }
        }
        return new NodeAddress(host, port, rest);
    }

    public string Url(string path) => $"http://{Host}:{Port}{path}";
}
