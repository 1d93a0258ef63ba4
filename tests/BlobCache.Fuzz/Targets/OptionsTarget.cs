using System.Text;
using BlobCache.Fuzz.Engine;
using BlobCache.Node.Config;

namespace BlobCache.Fuzz.Targets;

/// <summary>
/// The node's configuration sources through <see cref="OptionParser"/>: the input is lines, each a flag
/// (<c>A--name</c>, <c>Avalue</c>), an environment variable (<c>ENAME=value</c>) or a JSON config file's text
/// (<c>J{...}</c>). The only exception allowed is <see cref="OptionException"/> (one line, naming the input), and
/// whatever is accepted is a usable setting.
/// </summary>
public sealed class OptionsTarget : TextTarget
{
    private static readonly string[] Names =
    [
        "node-id", "region", "zone", "host", "advertise-host", "http-port", "grpc-port", "gossip-port", "udp-port", "seeds", "origin",
        "cache-dir", "memory-mb", "disk-mb", "chunk-size-mb", "metadata-ttl-seconds", "pooled-regions", "peer-transport", "peer-timeout-ms",
        "peer-transfer-timeout-ms", "read-ahead-chunks", "owners-to-try", "weight", "log-level", "log-format", "insecure", "config",
        "suspicions",
    ];

    private static readonly string[] Values =
    [
        "", " ", "0", "1", "-1", "65535", "65536", "4", "64", "3600", "NaN", "1e3", "true", "no", "grpc", "udp", "text", "json", "accuser", "Auto",
        "Trace", "warning", "None", "7", "Critical,Debug", "a:1,b:2", "host:0", ":80", "r1,r2", "two words", "127.0.0.1", "x\u0001y",
        "missing.json", ".", "\0",
    ];

    public override string Name => "options";

    protected override string GenerateText(Random random)
    {
        var lines = new List<string>();
        int n = random.Next(6);
        for (int i = 0; i < n; i++)
        {
            string name = Names[random.Next(Names.Length)], value = Value(random);
            switch (random.Next(4))
            {
                case 0:
                    lines.Add("A--" + name + "=" + value);
                    break;
                case 1:
                    lines.Add("A--" + name);
                    if (random.Next(4) != 0) lines.Add("A" + value);
                    break;
                case 2:
                    lines.Add("EBLOBCACHE_" + name.Replace('-', '_').ToUpperInvariant() + "=" + value);
                    break;
                default:
                    lines.Add("J" + Json(random));
                    break;
            }
        }
        return string.Join('\n', lines);
    }

    private static string Value(Random random) => random.Next(3) == 0 ? UdpFramesTarget.Text(random, 40) : Values[random.Next(Values.Length)];

    private static string Json(Random random)
    {
        var pairs = Enumerable.Range(0, random.Next(4)).Select(_ =>
        {
            string key = Names[random.Next(Names.Length)].Replace('-', '_');
            string value = random.Next(6) switch
            {
                0 => random.Next(70000).ToString(System.Globalization.CultureInfo.InvariantCulture),
                1 => "[\"a\", 1, null, {\"x\": [1]}]",
                2 => "null",
                3 => "{\"nested\": true}",
                4 => "1e400",
                _ => System.Text.Json.JsonSerializer.Serialize(Value(random)),
            };
            return $"\"{key}\": {value}";
        });
        return "{" + string.Join(", ", pairs) + "}";
    }

    public override object Prepare(byte[] input)
    {
        var args = new List<string>();
        var env = new Dictionary<string, string?>(StringComparer.Ordinal);
        string? json = null;
        foreach (string line in Encoding.UTF8.GetString(input).Split('\n'))
        {
            if (line.Length == 0) continue;
            // A mutation could spell a config path like /dev/zero or /dev/stdin: never read device files.
            string rest = line[1..].Replace("/dev", "/nul", StringComparison.Ordinal).Replace("/proc", "/nul", StringComparison.Ordinal).Replace("/sys", "/nul", StringComparison.Ordinal);
            switch (line[0])
            {
                case 'A':
                    args.Add(rest);
                    break;
                case 'E':
                    int eq = rest.IndexOf('=', StringComparison.Ordinal);
                    if (eq > 0) env[rest[..eq]] = rest[(eq + 1)..];
                    break;
                case 'J':
                    json = rest;
                    break;
            }
        }
        return (args, env, json);
    }

    public override object? Run(object prepared)
    {
        (List<string> args, Dictionary<string, string?> env, string? json) = ((List<string>, Dictionary<string, string?>, string?))prepared;
        try
        {
            NodeOptions options = OptionParser.Parse(args, env);
            if (json is not null) options = OptionParser.ApplyJson(options, json, "fuzz.json");
            return options;
        }
        catch (OptionException)
        {
            return null;
        }
    }

    public override void Check(byte[] input, object? result)
    {
        if (result is not NodeOptions o) return;
        if (!Enum.TryParse(o.LogLevel, out Microsoft.Extensions.Logging.LogLevel level) || !Enum.IsDefined(level) || level.ToString() != o.LogLevel)
            throw Violated($"log level '{o.LogLevel}' was accepted");
        foreach (int port in new[] { o.HttpPort, o.GrpcPort, o.GossipPort, o.UdpPort })
            if (port is < 0 or > 65535) throw Violated($"port {port} was accepted");
        if (o.ChunkSizeMb is < 1 or > 64 || o.Weight is < 0 or > 65535 || o.MemoryMb < 0 || !(o.MetadataTtlSeconds >= 0))
            throw Violated($"an out-of-range number was accepted: {o}");
        foreach (string name in new[] { o.NodeId, o.Region, o.Zone }.Concat(o.PooledRegions))
            if (name.Length is 0 or > 128 || name.Any(char.IsControl)) throw Violated($"name '{name}' was accepted");
        if (string.IsNullOrWhiteSpace(o.Host) || string.IsNullOrWhiteSpace(o.Origin)) throw Violated("an empty host or origin was accepted");
        if (!Enum.IsDefined(o.Suspicions)) throw Violated($"suspicions {(int)o.Suspicions} was accepted");
    }

    // An OptionException carries a message and a stack trace; the JSON reader keeps its own buffers; each
    // argument costs a few small strings (its name, "--name" to compare) whatever its length, so a flood of
    // four-byte arguments costs ~60-100 bytes per input byte (a lambda and an enumerator per lookup, over a list of
    // options that grows with the node: endpoint limits, mounts, advertised ports). Linear, which is what matters
    // here: no value is amplified. (Startup-only code; not worth tuning.)
    public override long AllocationBound(int inputBytes) => 112L * inputBytes + 64 * 1024;

    public override IReadOnlyList<byte[]> Dictionary => Tokens("\nA--", "\nA--config=", "\nEBLOBCACHE_", "\nJ{", "=", ",", ":", "\"", "{", "}", "[", "]", "[[[[", "--", "\0");
}
