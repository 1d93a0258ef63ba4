using System.Globalization;
using System.Net.Http.Json;
using BlobCache.Node.Hosting;

namespace BlobCache.Node.Cli;

/// <summary><c>blobcache status</c>: one line per member (id first), then hit ratios by tier.</summary>
public static class StatusCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        NodeAddress? node = NodeAddress.Parse("status", args);
        if (node is null) return 2;
        if (node.Rest.Count > 0)
        {
            Console.Error.WriteLine($"blobcache status: unexpected argument '{node.Rest[0]}' (use --http-port P and --host H)");
            return 2;
        }
        using HttpClient http = node.Client(TimeSpan.FromSeconds(5));
        StatusReport? report;
        try
        {
            report = await http.GetFromJsonAsync(node.Url("/status"), StatusJson.Default.StatusReport).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
        {
            Console.Error.WriteLine($"blobcache status: no node answers at {node.Url("/status")}: {e.Message}");
            return 1;
        }
        if (report is null) return 1;
        Console.Write(Format(report));
        return 0;
    }

    public static string Format(StatusReport r)
    {
        var w = new StringWriter(CultureInfo.InvariantCulture);
        int idWidth = Math.Max(4, r.Members.Select(m => m.Id.Length).DefaultIfEmpty(0).Max());
        foreach (StatusMember m in r.Members)
            w.WriteLine($"{m.Id.PadRight(idWidth)}  {m.Region,-12} {m.Zone,-12} {m.State,-8} {m.Incarnation,6}  {m.Address}");
        long total = r.ReadsBySource.Values.Sum();
        w.WriteLine($"node {r.Node}: {r.LiveMembers} live members; {total} chunk reads; {r.BlobGets} Blob GETs; served {r.PeerServed} chunks to peers");
        foreach ((string source, long count) in r.ReadsBySource)
        {
            double ratio = total == 0 ? 0 : (double)count / total;
            double mib = r.BytesBySource.GetValueOrDefault(source) / 1048576.0;
            w.WriteLine($"  {source,-20} {ratio,7:P1}  {count,10} chunks  {mib,12:F1} MiB");
        }
        w.WriteLine($"  memory tier {r.MemoryBytes / 1048576.0:F1} MiB in {r.MemoryChunks} chunks ({r.MemoryEvictions} evicted); disk tier {r.DiskBytes / 1048576.0:F1} MiB in {r.DiskChunks} chunks ({r.DiskEvictions} evicted, {r.CorruptFiles} corrupt files dropped, {r.DiskWriteErrors} write errors); {r.OriginErrors} Blob reads failed");
        w.WriteLine(r.GossipKeyring is { } k
            ? $"  gossip encrypted, keys {string.Join(", ", k.Keys.Select(key => $"{key.Fingerprint}{(key.Primary ? " (primary)" : "")} {key.PacketsOpened} opened"))}; " +
              $"dropped unauthenticated: {r.GossipPacketsUnauthenticated} gossip packets, {r.UdpConnectionsUnauthenticated} udp connections" +
              (k.LastError is null ? "" : $"; key file not applied: {k.LastError}")
            : "  gossip in plain text, peers not authenticated (--insecure)");
        return w.ToString();
    }
}
