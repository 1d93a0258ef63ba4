using System.Globalization;
using System.Text.Json;
using BlobCache.Node.Reading;

namespace BlobCache.Node.Cli;

/// <summary>
/// <c>blobcache warm ACCOUNT/CONTAINER[/PREFIX]</c>: asks a running node to have every chunk under the prefix
/// loaded by its owner, shows a progress bar, and prints a summary (chunks, bytes, seconds, GiB/s).
/// </summary>
public static class WarmCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        NodeAddress? node = NodeAddress.Parse("warm", args);
        if (node is null) return 2;
        if (node.Rest.Count != 1 || node.Rest[0].StartsWith("--", StringComparison.Ordinal))
        {
            Console.Error.WriteLine("blobcache warm: usage: blobcache warm ACCOUNT/CONTAINER[/PREFIX] [--http-port P] [--host H]");
            return 2;
        }
        string path = node.Rest[0];
        if (path.Split('/', 3).Length < 2)
        {
            Console.Error.WriteLine("blobcache warm: name what to warm as ACCOUNT/CONTAINER[/PREFIX]");
            return 2;
        }
        using HttpClient http = node.Client(Timeout.InfiniteTimeSpan);
        HttpResponseMessage response;
        try
        {
            response = await http.PostAsync(node.Url($"/warm?path={Uri.EscapeDataString(path)}"), null).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            Console.Error.WriteLine($"blobcache warm: no node answers at {node.Url("")}: {e.Message}");
            return 1;
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                Console.Error.WriteLine($"blobcache warm: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync().ConfigureAwait(false)}");
                return 1;
            }
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync().ConfigureAwait(false));
            WarmProgress? last = null;
            string? line;
            while ((line = await reader.ReadLineAsync().ConfigureAwait(false)) is not null)
            {
                if (line.Length == 0) continue;
                last = JsonSerializer.Deserialize(line, WarmJson.Default.WarmProgress);
                if (last is null) continue;
                if (last.Error is not null)
                {
                    Console.Error.WriteLine();
                    Console.Error.WriteLine($"blobcache warm: {last.Error}");
                    return 1;
                }
                Console.Error.Write("\r" + Bar(last));
            }
            Console.Error.WriteLine();
            if (last is not { Done: true })
            {
                Console.Error.WriteLine("blobcache warm: the node stopped answering before the warm-up finished");
                return 1;
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"warmed {path}: {last.ChunksDone} chunks of {last.Blobs} blobs, {last.BytesDone / (double)(1L << 30):F2} GiB in {last.Seconds:F1} s ({last.GiBPerSecond:F2} GiB/s); {last.FromBlob} read from Blob, {last.AlreadyCached} already cached, {last.Failed} failed"));
            return last.Failed == 0 ? 0 : 1;
        }
    }

    private static string Bar(WarmProgress p)
    {
        const int width = 30;
        double fraction = p.ChunksTotal == 0 ? 1 : (double)p.ChunksDone / p.ChunksTotal;
        int filled = (int)(fraction * width);
        return string.Create(CultureInfo.InvariantCulture,
            $"[{new string('#', filled)}{new string('.', width - filled)}] {fraction,6:P1} {p.ChunksDone}/{p.ChunksTotal} chunks {p.BytesDone / 1048576.0:F0} MiB {p.Seconds:F1} s");
    }
}
