using System.Globalization;
using System.Text.Json;
using BlobCache.Mesh.Reading;
using BlobCache.Node.Endpoint;

namespace BlobCache.Node.Config;

/// <summary>A bad flag, environment variable or config value: the message names it, in one line.</summary>
public sealed class OptionException(string message) : Exception(message);

/// <summary>
/// Reads <see cref="NodeOptions"/> from a JSON file (<c>--config</c>), then <c>BLOBCACHE_*</c> environment
/// variables, then flags. One table lists every option once, so the three sources cannot drift apart.
/// </summary>
public static class OptionParser
{
    private sealed record Spec(string Name, string Help, Func<NodeOptions, string, string, NodeOptions> Apply, bool IsSwitch = false)
    {
        public string Env => "BLOBCACHE_" + Name.Replace('-', '_').ToUpperInvariant();
        public string JsonKey => Name.Replace('-', '_');
    }

    private static readonly Spec[] Specs =
    [
        new("node-id", "unique id of this node (default: host name and pid)", (o, v, s) => o with { NodeId = Name(v, s) }),
        new("region", "region name (placement groups owners by region)", (o, v, s) => o with { Region = Name(v, s) }),
        new("zone", "zone within the region", (o, v, s) => o with { Zone = Name(v, s) }),
        new("host", "address to bind (default 127.0.0.1)", (o, v, s) => o with { Host = NonEmpty(v, s) }),
        new("advertise-host", "address peers use to reach this node (default: the bind address)", (o, v, s) => o with { AdvertiseHost = NonEmpty(v, s) }),
        new("http-port", "local Blob endpoint, /metrics, /healthz, /readyz", (o, v, s) => o with { HttpPort = Port(v, s) }),
        new("grpc-port", "peer chunk transfer over gRPC", (o, v, s) => o with { GrpcPort = Port(v, s) }),
        new("gossip-port", "membership gossip (UDP; state transfers on the same TCP port)", (o, v, s) => o with { GossipPort = Port(v, s) }),
        new("gossip-stream-max-mb", "largest membership state transfer accepted (default 32: a few hundred thousand members)", (o, v, s) => o with { GossipStreamMaxMb = Int(v, s, 1, 1024) }),
        new("udp-port", "peer chunk transfer over UDP (LiteNetLib), served only with --udp-serve or --peer-transport udp", (o, v, s) => o with { UdpPort = Port(v, s) }),
        new("udp-serve", "serve the UDP chunk transport to peers that fetch over it (default: only under --peer-transport udp)", (o, v, s) => o with { UdpServe = Bool(v, s) }, IsSwitch: true),
        new("advertise-gossip-port", "gossip port peers use to reach this node, when a NAT or port mapping forwards it (default: --gossip-port)", (o, v, s) => o with { AdvertiseGossipPort = Int(v, s, 1, 65535) }),
        new("advertise-grpc-port", "gRPC/framed-TCP port peers use to reach this node, when forwarded (default: --grpc-port)", (o, v, s) => o with { AdvertiseGrpcPort = Int(v, s, 1, 65535) }),
        new("seeds", "gossip addresses host:port,... of nodes to join through", (o, v, s) => o with { Seeds = Endpoints(v, s) }),
        new("suspicions", "who hears of a suspicion: auto (default: gossip under 2,000 members, accuser from there on), gossip (every member) or accuser (only the suspect)", (o, v, s) => o with { Suspicions = Spread(v, s) }),
        new("origin", "Blob connection string, container SAS URL, account URL, or sample (built-in generated blobs); default: Azurite's dev account", (o, v, s) => o with { Origin = NonEmpty(v, s) }),
        new("cache-dir", "directory of the disk tier (default: none, memory only)", (o, v, s) => o with { CacheDir = NonEmpty(v, s) }),
        new("memory-mb", "memory tier capacity", (o, v, s) => o with { MemoryMb = Int(v, s, 0, 1 << 20) }),
        new("disk-mb", "disk tier capacity", (o, v, s) => o with { DiskMb = Int(v, s, 0, int.MaxValue) }),
        new("chunk-size-mb", "chunk size (1..64)", (o, v, s) => o with { ChunkSizeMb = Int(v, s, 1, 64) }),
        new("metadata-ttl-seconds", "how long a blob's ETag and length are trusted; 0 = always revalidate", (o, v, s) => o with { MetadataTtlSeconds = Double(v, s, 0, 3600) }),
        new("metadata-via-mesh", "ask a blob's properties of its owner in the region before Blob (default true; false: every node asks Blob)", (o, v, s) => o with { MetadataViaMesh = Bool(v, s) }),
        new("metadata-members-per-owner", "members that share one deputy per key before the key's metadata owner (default 256; bounds a hot key's load on one node)", (o, v, s) => o with { MetadataMembersPerOwner = Int(v, s, 1, 1_000_000) }),
        new("metadata-peer-timeout-ms", "how long a metadata owner has to answer before the next owner or Blob (default 2000)", (o, v, s) => o with { MetadataPeerTimeoutMs = Int(v, s, 10, 600_000) }),
        new("account-aliases", "more account names the endpoint answers for as the origin's (wasb emulator mode: devstoreaccount1)", (o, v, s) => o with { AccountAliases = List(v).Select(a => Account(a, s)).ToArray() }),
        new("pooled-regions", "other regions whose owners may serve chunks, r1,r2", (o, v, s) => o with { PooledRegions = List(v).Select(r => Name(r, s)).ToArray() }),
        new("peer-transport", "tcp (default: framed TCP on the gRPC port, the fastest), grpc or udp (every node it fetches from then needs --udp-serve)", (o, v, s) => o with { PeerTransport = Transport(v, s) }),
        new("peer-timeout-ms", "how long a peer has to answer before the next owner or Blob", (o, v, s) => o with { PeerTimeoutMs = Int(v, s, 10, 600_000) }),
        new("peer-transfer-timeout-ms", "how long an answering peer may take to deliver a chunk", (o, v, s) => o with { PeerTransferTimeoutMs = Int(v, s, 100, 3_600_000) }),
        new("origin-retries", "retries of a failed or timed-out Blob request, with exponential backoff", (o, v, s) => o with { OriginRetries = Int(v, s, 0, 20) }),
        new("origin-timeout-ms", "how long one Blob request may take before it is retried", (o, v, s) => o with { OriginTimeoutMs = Int(v, s, 100, 600_000) }),
        new("read-ahead-chunks", "chunks fetched ahead of a sequential reader (0 = off)", (o, v, s) => o with { ReadAheadChunks = Int(v, s, 0, 64) }),
        new("owners-to-try", "owners in the region tried before Blob", (o, v, s) => o with { OwnersToTry = Int(v, s, 1, ChunkRoute.MaxOwners) }),
        new("peer-busy-retries", "doublings of the wait before a reader asks a busy owner again (from 50 ms; it comes back for up to 30 s, trying the holders each busy answer names in between)", (o, v, s) => o with { PeerBusyRetries = Int(v, s, 0, 16) }),
        new("weight", "share of chunks this node owns, relative to 100", (o, v, s) => o with { Weight = Int(v, s, 0, 65535) }),
        new("log-level", "Trace, Debug, Information, Warning, Error", (o, v, s) => o with { LogLevel = Level(v, s) }),
        new("log-format", "text (one line per event) or json (one object per line)", (o, v, s) => o with { LogFormat = v.Trim().ToLowerInvariant() is "text" or "json" ? v.Trim().ToLowerInvariant() : throw new OptionException($"{s}: '{v}' is not text or json") }),
        new("http-server", "loop (event loops on epoll: Linux, the default there) or kestrel: what serves the local endpoint", (o, v, s) => o with { HttpServer = ServerKind(v, s) }),
        new("http-max-connections", "endpoint connections open at most (loop server; default 10000): near it the longest-waiting are shed, a few slots stay for probes", (o, v, s) => o with { HttpMaxConnections = Int(v, s, 16, 1_000_000) }),
        new("http-receive-timeout-ms", "a request's head and body must arrive whole within this of their first byte (loop server; default 10000)", (o, v, s) => o with { HttpReceiveTimeoutMs = Int(v, s, 100, 600_000) }),
        new("inline-io", "Kestrel only (the gRPC port, and the endpoint under --http-server kestrel): run requests on its socket threads", (o, v, s) => o with { InlineIo = Bool(v, s) }, IsSwitch: true),
        new("insecure", "start without peer security: plain-text gossip unless --gossip-key-file, plain gRPC unless --tls-* (local development only)", (o, v, s) => o with { Insecure = Bool(v, s) }, IsSwitch: true),
        new("gossip-key-file", "mesh keyring: base64 32-byte keys, one a line, first = primary (blobcache keygen); re-read on change", (o, v, s) => o with { GossipKeyFile = NonEmpty(v, s) }),
        new("tls-cert", "PEM certificate for gRPC peer mutual TLS (reloaded on change)", (o, v, s) => o with { TlsCert = NonEmpty(v, s) }),
        new("tls-key", "PEM private key of --tls-cert", (o, v, s) => o with { TlsKey = NonEmpty(v, s) }),
        new("tls-ca", "PEM bundle of the mesh CA; peers' certificates must chain to it", (o, v, s) => o with { TlsCa = NonEmpty(v, s) }),
        new("endpoint-token-file", "bearer tokens of the local endpoint, one a line (needed off loopback; reloaded on change)", (o, v, s) => o with { EndpointTokenFile = NonEmpty(v, s) }),
        new("require-endpoint-auth", "require the endpoint token on loopback too", (o, v, s) => o with { RequireEndpointAuth = Bool(v, s) }, IsSwitch: true),
        new("allowed-containers", "account/container,account/* the local endpoint serves (default: all)", (o, v, s) => o with { AllowedContainers = Containers(v, s) }),
        new("mount", "ACCOUNT/CONTAINER[/PREFIX]:DIR,... read-only FUSE mounts served by this node (Linux: root or CAP_SYS_ADMIN, /dev/fuse)", (o, v, s) => o with { Mounts = List(v).Select(m => MountSpec.Parse(m, s)).ToArray() }),
        new("max-peer-requests", "peer requests served at once; more are refused at once", (o, v, s) => o with { MaxPeerRequests = Int(v, s, 1, 1_000_000) }),
        new("max-peer-sends", "chunks sent to peers at once; past it a request is answered busy with holders to ask instead", (o, v, s) => o with { MaxPeerSends = Int(v, s, 1, 100_000) }),
        new("peer-rate-limit", "peer requests a second accepted from one address (0 = no limit)", (o, v, s) => o with { PeerRateLimit = Int(v, s, 0, 10_000_000) }),
    ];

    /// <summary>Help text: one line per option.</summary>
    public static string Help() => string.Join('\n', Specs.Select(s =>
        $"  --{s.Name}{(s.IsSwitch ? "" : " VALUE"),-7} {s.Help} [{s.Env}]")) +
        "\n  --config FILE         JSON file with any of the above (snake_case keys)";

    /// <summary>Builds options from file, environment and flags. Throws <see cref="OptionException"/> naming the bad input.</summary>
    public static NodeOptions Parse(IReadOnlyList<string> args, IReadOnlyDictionary<string, string?> environment)
    {
        var options = new NodeOptions();
        string? configFile = FlagValue(args, "config") ?? environment.GetValueOrDefault("BLOBCACHE_CONFIG");
        if (configFile is not null) options = ApplyFile(options, configFile);
        foreach (Spec spec in Specs)
        {
            if (environment.TryGetValue(spec.Env, out string? value) && !string.IsNullOrEmpty(value))
                options = spec.Apply(options, value, spec.Env);
        }
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal)) throw new OptionException($"unexpected argument '{arg}' (options start with --)");
            string name = arg[2..];
            string? inline = null;
            int eq = name.IndexOf('=', StringComparison.Ordinal);
            if (eq >= 0) (name, inline) = (name[..eq], name[(eq + 1)..]);
            if (name == "config")
            {
                if (inline is null) i++;
                continue;
            }
            Spec spec = Specs.FirstOrDefault(s => s.Name == name) ?? throw new OptionException($"unknown option --{name} (see --help)");
            string value;
            if (inline is not null) value = inline;
            else if (spec.IsSwitch) value = "true";
            else if (i + 1 < args.Count) value = args[++i];
            else throw new OptionException($"--{name} needs a value");
            options = spec.Apply(options, value, "--" + name);
        }
        return options;
    }

    private static string? FlagValue(IReadOnlyList<string> args, string name)
    {
        for (int i = 0; i < args.Count; i++)
        {
            if (args[i] == "--" + name) return i + 1 < args.Count ? args[i + 1] : throw new OptionException($"--{name} needs a value");
            if (args[i].StartsWith("--" + name + "=", StringComparison.Ordinal)) return args[i][(name.Length + 3)..];
        }
        return null;
    }

    private static NodeOptions ApplyFile(NodeOptions options, string path)
    {
        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        // ArgumentException: an empty path or one with a NUL character.
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new OptionException($"config file '{path}': {e.Message}");
        }
        return ApplyJson(options, json, path);
    }

    /// <summary>Applies a config file's text (<paramref name="path"/> only names it in errors).</summary>
    internal static NodeOptions ApplyJson(NodeOptions options, string json, string path)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new OptionException($"config file {path}: {e.Message}");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new OptionException($"config file {path}: expected a JSON object");
            try
            {
                foreach (JsonProperty p in doc.RootElement.EnumerateObject())
                {
                    Spec spec = Specs.FirstOrDefault(s => s.JsonKey == p.Name) ?? throw new OptionException($"config file {path}: unknown key \"{p.Name}\"");
                    string value = p.Value.ValueKind switch
                    {
                        JsonValueKind.String => p.Value.GetString()!,
                        JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => p.Value.GetRawText(),
                        JsonValueKind.Array => string.Join(',', p.Value.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString() : e.GetRawText())),
                        _ => throw new OptionException($"config file {path}: \"{p.Name}\" has an unsupported value"),
                    };
                    options = spec.Apply(options, value, $"config file {path}: \"{p.Name}\"");
                }
            }
            catch (InvalidOperationException e)
            {
                // Valid JSON whose escapes make no string: a lone surrogate such as "\uDE09", in a key or a value.
                throw new OptionException($"config file {path}: {e.Message}");
            }
        }
        return options;
    }

    private static string NonEmpty(string v, string source) =>
        string.IsNullOrWhiteSpace(v) ? throw new OptionException($"{source} must not be empty") : v.Trim();

    // Names travel in gossip and metrics labels: keep them printable and short.
    private static string Name(string v, string source)
    {
        v = NonEmpty(v, source);
        if (v.Length > 128 || v.Any(c => char.IsControl(c) || char.IsWhiteSpace(c) || c == ','))
            throw new OptionException($"{source}: '{v}' is not a valid name (1-128 characters, no spaces or commas)");
        return v;
    }

    private static int Port(string v, string source) => Int(v, source, 0, 65535);

    private static int Int(string v, string source, int min, int max)
    {
        if (!int.TryParse(v.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) || n < min || n > max)
            throw new OptionException($"{source}: '{v}' is not a whole number from {min} to {max}");
        return n;
    }

    private static double Double(string v, string source, double min, double max)
    {
        if (!double.TryParse(v.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double n) || !(n >= min && n <= max))
            throw new OptionException($"{source}: '{v}' is not a number from {min} to {max}");
        return n;
    }

    private static string Account(string v, string source) =>
        BlobNames.IsValidAccount(v)
            ? v
            : throw new OptionException($"{source}: '{v}' is not a storage account name (3-24 lowercase letters and digits)");

    private static bool Bool(string v, string source) => v.Trim().ToLowerInvariant() switch
    {
        "true" or "1" or "yes" => true,
        "false" or "0" or "no" => false,
        _ => throw new OptionException($"{source}: '{v}' is not true or false"),
    };

    private static BlobCache.Mesh.SuspicionSpread Spread(string v, string source) => v.Trim().ToLowerInvariant() switch
    {
        "auto" => BlobCache.Mesh.SuspicionSpread.Auto,
        "gossip" => BlobCache.Mesh.SuspicionSpread.Gossip,
        "accuser" => BlobCache.Mesh.SuspicionSpread.Accuser,
        _ => throw new OptionException($"{source}: '{v}' is not auto, gossip or accuser"),
    };

    private static PeerTransport Transport(string v, string source) => v.Trim().ToLowerInvariant() switch
    {
        "grpc" => PeerTransport.Grpc,
        "udp" => PeerTransport.Udp,
        "tcp" => PeerTransport.Tcp,
        _ => throw new OptionException($"{source}: '{v}' is not grpc, tcp or udp"),
    };

    private static HttpServerKind ServerKind(string v, string source) => v.Trim().ToLowerInvariant() switch
    {
        "loop" when OperatingSystem.IsLinux() => HttpServerKind.Loop,
        "loop" => throw new OptionException($"{source}: the loop server runs on Linux only; use kestrel"),
        "kestrel" => HttpServerKind.Kestrel,
        _ => throw new OptionException($"{source}: '{v}' is not loop or kestrel"),
    };

    private static string Level(string v, string source) =>
        // TryParse also takes any number ("65536", "-1"), which is no level at all.
        Enum.TryParse<Microsoft.Extensions.Logging.LogLevel>(v.Trim(), ignoreCase: true, out var level) && Enum.IsDefined(level)
            ? level.ToString()
            : throw new OptionException($"{source}: '{v}' is not a log level (Trace, Debug, Information, Warning, Error)");

    private static string[] List(string v) =>
        v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static string[] Containers(string v, string source)
    {
        string[] items = List(v);
        foreach (string item in items)
        {
            string[] parts = item.Split('/');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0 || (parts[1] != "*" && !BlobCache.Node.Endpoint.BlobNames.IsValidContainer(parts[1])))
                throw new OptionException($"{source}: '{item}' is not account/container or account/*");
        }
        return items;
    }

    private static string[] Endpoints(string v, string source)
    {
        string[] items = List(v);
        foreach (string item in items)
        {
            int colon = item.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(item.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
                throw new OptionException($"{source}: '{item}' is not host:port");
        }
        return items;
    }
}
