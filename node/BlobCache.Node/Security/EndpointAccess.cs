using System.Net;
using System.Security.Cryptography;
using System.Text;
using BlobCache.Node.Endpoint;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Security;

/// <summary>
/// Who may use the local endpoint: a bearer token from <c>--endpoint-token-file</c> (required when the endpoint binds
/// a non-loopback address), and the <c>--allowed-containers</c> list. Probes (<c>/healthz</c>, <c>/readyz</c>) and
/// <c>/metrics</c> stay open: kubelet and Prometheus must reach them, and they carry counts, never names or bytes.
/// </summary>
public sealed class EndpointAccess : IDisposable
{
    /// <summary>Tokens shorter than this are refused at load: a bearer token must not be guessable.</summary>
    public const int MinTokenLength = 16;

    private readonly (string Account, string Container)[] _allowed;
    private readonly WatchedFiles? _tokenFile;
    private byte[][] _tokenDigests = [];
    private long _unauthenticated, _forbidden;

    /// <summary>Throws <see cref="InvalidDataException"/> when the token file cannot be read or holds no usable token.</summary>
    public EndpointAccess(string? tokenFile, IReadOnlyList<string> allowedContainers, ILogger logger)
    {
        _allowed = allowedContainers.Select(a => a.Split('/')).Select(p => (p[0], p[1])).ToArray();
        if (tokenFile is not null)
            _tokenFile = new WatchedFiles("endpoint tokens", [tokenFile], f => Volatile.Write(ref _tokenDigests, ParseTokens(f[0])), TimeSpan.FromSeconds(10), logger);
    }

    public bool RequiresToken => _tokenFile is not null;
    public long Unauthenticated => Interlocked.Read(ref _unauthenticated);
    public long Forbidden => Interlocked.Read(ref _forbidden);

    /// <summary>Whether binding <paramref name="bindAddress"/> exposes the endpoint beyond this host (127.0.0.0/8 and ::1 do not).</summary>
    public static bool IsLoopback(string bindAddress) => IPAddress.TryParse(bindAddress, out IPAddress? a) && IPAddress.IsLoopback(a);

    private static byte[][] ParseTokens(byte[] file)
    {
        var digests = new List<byte[]>();
        foreach (string raw in Encoding.UTF8.GetString(file).Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            if (line.Length < MinTokenLength) throw new InvalidDataException($"--endpoint-token-file: a token is shorter than {MinTokenLength} characters");
            digests.Add(SHA256.HashData(Encoding.UTF8.GetBytes(line)));
        }
        return digests.Count > 0 ? digests.ToArray() : throw new InvalidDataException("--endpoint-token-file: no token in the file (one a line)");
    }

    /// <summary>Middleware for the HTTP port: answers 401/403 with a Blob error, or passes the request on.</summary>
    public Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        string path = context.Request.Path.Value ?? "/";
        if (path is "/healthz" or "/readyz" or "/metrics") return next(context);
        if (_tokenFile is not null && !HasValidToken(context.Request))
        {
            Interlocked.Increment(ref _unauthenticated);
            bool absent = !context.Request.Headers.ContainsKey("Authorization");
            context.Response.Headers.WWWAuthenticate = "Bearer";
            return absent
                ? BlobErrors.WriteAsync(context, 401, "NoAuthenticationInformation", "this endpoint needs Authorization: Bearer TOKEN (see --endpoint-token-file)")
                : BlobErrors.WriteAsync(context, 403, "AuthenticationFailed", "the bearer token is not one this node accepts");
        }
        if (_allowed.Length > 0 && path != "/status")
        {
            // The very resource the endpoint (or /warm) goes on to read, decoded from the raw target once: the routed
            // path has had its dot segments resolved by the server (or not, by another), so it may name another container.
            if (BlobResource.Of(context) is not { } resource || !(resource.IsAccount ? AllowsAccount(resource.Account) : Allowed(resource.Account, resource.Container)))
            {
                Interlocked.Increment(ref _forbidden);
                return BlobErrors.WriteAsync(context, 403, "AuthorizationFailure",
                    $"this node serves only {string.Join(", ", _allowed.Select(a => a.Account + "/" + a.Container))} (--allowed-containers)");
            }
        }
        return next(context);
    }

    /// <summary>Whether the endpoint shows <paramref name="container"/> (in List Containers, say): always when no list is set.</summary>
    public bool CanSee(string account, string container) => _allowed.Length == 0 || Allowed(account, container);

    // Account-level reads (List Containers, the account's and service's properties) of an account with any container
    // on the list: List Containers then shows only the listed containers.
    private bool AllowsAccount(string account) => _allowed.Any(a => string.Equals(a.Account, account, StringComparison.Ordinal));

    private bool Allowed(string account, string container)
    {
        foreach ((string a, string c) in _allowed)
        {
            if (string.Equals(a, account, StringComparison.Ordinal) && (c == "*" || string.Equals(c, container, StringComparison.Ordinal))) return true;
        }
        return false;
    }

    private bool HasValidToken(HttpRequest request)
    {
        string header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return false;
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(header[7..].Trim()), digest);
        bool ok = false;
        // Every token is compared, in constant time, so timing says nothing about which one (or how much) matched.
        foreach (byte[] t in Volatile.Read(ref _tokenDigests)) ok |= CryptographicOperations.FixedTimeEquals(t, digest);
        return ok;
    }

    public void Dispose() => _tokenFile?.Dispose();
}
