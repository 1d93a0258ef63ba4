using System.Globalization;

namespace BlobCache.Node.Cli;

/// <summary>
/// Where a running node's HTTP endpoint is, from <c>--host H</c> and <c>--http-port P</c>, and the token it wants
/// (<c>--token-file F</c>, else <c>BLOBCACHE_ENDPOINT_TOKEN_FILE</c>: the node's own token file); other arguments are left over.
/// </summary>
public sealed record NodeAddress(string Host, int Port, IReadOnlyList<string> Rest, string? TokenFile = null)
{
    /// <summary>Null (after printing why) when an option is malformed.</summary>
    public static NodeAddress? Parse(string command, string[] args)
    {
        string host = "127.0.0.1";
        int port = 7480;
        string? tokenFile = Environment.GetEnvironmentVariable("BLOBCACHE_ENDPOINT_TOKEN_FILE");
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
                case "--token-file" when value is not null && (tokenFile = value) == value:
                    i++;
                    break;
                case "--http-port" or "--host" or "--token-file":
                    Console.Error.WriteLine($"blobcache {command}: {args[i]} needs a value (--http-port 1..65535, --host NAME, --token-file FILE)");
                    return null;
                default:
                    rest.Add(args[i]);
                    break;
            }
        }
        return new NodeAddress(host, port, rest, string.IsNullOrEmpty(tokenFile) ? null : tokenFile);
    }

    /// <summary>An HTTP client that sends the first token of <see cref="TokenFile"/> as a bearer token (none without a file).</summary>
    public HttpClient Client(TimeSpan timeout)
    {
        var http = new HttpClient { Timeout = timeout };
        if (TokenFile is null) return http;
        string? token;
        try
        {
            token = File.ReadLines(TokenFile).Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0 && !l.StartsWith('#'));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            http.Dispose();
            throw new BlobCache.Node.Config.OptionException($"--token-file {TokenFile}: {e.Message}");
        }
        if (token is not null) http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    public string Url(string path) => $"http://{Host}:{Port}{path}";
}
