using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using BlobCache.Node.Tests.Security;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Http;

/// <summary>
/// The local endpoint under the loads of an adversarial client, on a real node (built-in sample origin) over real
/// sockets: heads trickled in a byte at a time on more connections than the node takes, GET requests carrying
/// megabyte bodies, POST bodies past the memory budget, and Host headers naming other hosts and ports. The loads
/// are scaled down (a small connection limit, a short receive deadline), not changed in kind.
/// </summary>
public sealed class EndpointHardeningTests
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private static readonly string SampleBlob = $"/{Azurite.Account}/sample/shard-000.bin";

    [Fact]
    public async Task Heads_trickled_in_on_more_connections_than_the_limit_neither_lock_out_probes_nor_outlive_the_receive_deadline()
    {
        const int limit = 100, slow = 300;
        await using NodeProcess node = await StartReadyAsync("hardening-slow", "--http-max-connections", $"{limit}", "--http-receive-timeout-ms", "2000");
        int idleFds = ProcessFootprint.Of(node.Pid).Fds;

        // Three times the limit, each sending its head one byte at a time: progress enough for a stall limit, forever.
        byte[] head = Encoding.ASCII.GetBytes("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + new string('a', 1000));
        var sockets = new List<Socket>();
        var cut = new bool[slow];
        try
        {
            for (int i = 0; i < slow; i++)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await s.ConnectAsync(IPAddress.Loopback, node.HttpPort);
                sockets.Add(s);
            }
            var clock = Stopwatch.StartNew();
            Task trickle = Task.Run(async () =>
            {
                for (int at = 0; at < head.Length && clock.Elapsed < TimeSpan.FromSeconds(7); at++)
                {
                    for (int i = 0; i < slow; i++)
                    {
                        if (cut[i]) continue;
                        try
                        {
                            sockets[i].Send(head, at, 1, SocketFlags.None);
                        }
                        catch (SocketException)
                        {
                            cut[i] = true; // the node closed it
                        }
                    }
                    await Task.Delay(200);
                }
            });

            // Meanwhile a probe on a new connection, as the kubelet's, is answered every time, and the node holds no
            // more descriptors than its limit allows.
            int probes = 0;
            while (clock.Elapsed < TimeSpan.FromSeconds(6))
            {
                string answer = await ProbeAsync(node.HttpPort, "/healthz");
                Assert.True(answer.StartsWith("HTTP/1.1 200 ", StringComparison.Ordinal) && answer.EndsWith("\r\n\r\nok\n", StringComparison.Ordinal),
                    $"probe {probes} at {clock.Elapsed.TotalSeconds:F1} s got: {answer}");
                probes++;
                int fds = ProcessFootprint.Of(node.Pid).Fds;
                Assert.True(fds <= idleFds + limit + 10, $"{fds} descriptors open at {clock.Elapsed.TotalSeconds:F1} s (idle: {idleFds}, limit {limit})");
                await Task.Delay(250);
            }
            await trickle;

            // Every trickling connection was closed by the node: shed for newer ones, or at the 2 s deadline.
            int open = 0;
            for (int i = 0; i < slow; i++)
            {
                if (!cut[i] && !ClosedByPeer(sockets[i])) open++;
            }
            Assert.Equal(0, open);
            Assert.True(await SecurityProbes.MetricAsync(node, "blobcache_http_refused", "reason=\"shed\"") >= 1, "no connection was counted as shed");
            Assert.True(await SecurityProbes.MetricAsync(node, "blobcache_http_refused", "reason=\"timeout\"") >= 1, "no request was counted as timed out");
        }
        finally
        {
            foreach (Socket s in sockets) s.Dispose();
        }
    }

    [Fact]
    public async Task Megabyte_bodies_on_GETs_are_dropped_unkept_and_POST_bodies_past_the_budget_get_503_so_the_node_memory_stays_flat()
    {
        await using NodeProcess node = await StartReadyAsync("hardening-bodies");
        const int body = 1024 * 1024;
        byte[] junk = new byte[body];
        new Random(7).NextBytes(junk);
        // The paths measured run once first: what the runtime compiles on first use is not what a load holds.
        using (Socket warm = await ConnectAsync(node.HttpPort))
        {
            await SendAsync(warm, $"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{node.HttpPort}\r\nContent-Length: {body}\r\n\r\n", junk);
            Assert.StartsWith("HTTP/1.1 200 ", await ReadResponseAsync(warm), StringComparison.Ordinal);
        }
        long before = ProcessFootprint.Of(node.Pid).RssBytes;

        // 200 connections each send a GET with a 1 MiB body and stay open: the node answers each and keeps none.
        const int gets = 200;
        var sockets = new List<Socket>();
        try
        {
            for (int i = 0; i < gets; i++)
            {
                Socket s = await ConnectAsync(node.HttpPort);
                sockets.Add(s);
                await SendAsync(s, $"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{node.HttpPort}\r\nContent-Length: {body}\r\n\r\n", junk);
            }
            foreach (Socket s in sockets) Assert.EndsWith("\r\n\r\nok\n", await ReadResponseAsync(s), StringComparison.Ordinal);
            long grown = ProcessFootprint.Of(node.Pid).RssBytes - before;
            Assert.True(grown < 64L << 20, $"the node grew by {grown >> 20} MiB holding {gets} connections that sent {gets} MiB of GET bodies");
        }
        finally
        {
            foreach (Socket s in sockets) s.Dispose();
            sockets.Clear();
        }

        // 100 POST heads announcing 1 MiB each, all at once: 32 fit the 32 MiB budget, the rest get 503 ServerBusy at once.
        const int posts = 100, fit = 32;
        try
        {
            for (int i = 0; i < posts; i++)
            {
                Socket s = await ConnectAsync(node.HttpPort);
                sockets.Add(s);
                await SendAsync(s, $"POST /warm HTTP/1.1\r\nHost: 127.0.0.1:{node.HttpPort}\r\nContent-Length: {body}\r\n\r\n", []);
            }
            await Wait.UntilAsync(() => Task.FromResult(sockets.Count(s => s.Poll(0, SelectMode.SelectRead)) == posts - fit),
                TimeSpan.FromSeconds(20), $"{posts - fit} POSTs to be answered before their bodies");
            long grown = ProcessFootprint.Of(node.Pid).RssBytes - before;
            foreach (Socket s in sockets.Where(s => s.Poll(0, SelectMode.SelectRead)).ToList())
            {
                string answer = await ReadResponseAsync(s);
                Assert.StartsWith("HTTP/1.1 503 ", answer, StringComparison.Ordinal);
                Assert.Contains("x-ms-error-code: ServerBusy", answer, StringComparison.Ordinal);
                sockets.Remove(s);
                s.Dispose();
            }
            // The bodies that fit are taken whole and handed on (/warm without a path answers 400).
            foreach (Socket s in sockets)
            {
                await SendAsync(s, "", junk);
                Assert.StartsWith("HTTP/1.1 400 ", await ReadResponseAsync(s), StringComparison.Ordinal);
            }
            grown = Math.Max(grown, ProcessFootprint.Of(node.Pid).RssBytes - before);
            Assert.True(grown < 96L << 20, $"the node grew by {grown >> 20} MiB with {posts} POST bodies of 1 MiB arriving");
            Assert.Equal(posts - fit, await SecurityProbes.MetricAsync(node, "blobcache_http_refused", "reason=\"body_memory\""));
            Assert.Equal(0, await SecurityProbes.MetricAsync(node, "blobcache_http_body_bytes"));
        }
        finally
        {
            foreach (Socket s in sockets) s.Dispose();
        }
    }

    [Fact]
    public async Task Any_Host_header_reaches_probes_and_blobs_and_the_server_answers_its_own_errors_in_Blob_shape()
    {
        await using NodeProcess node = await StartReadyAsync("hardening-host");
        // A Service mapping port 80 to the node's, a Host with no port, kubectl port-forward from another local port.
        foreach (string other in new[] { "cache.svc:80", "cache.svc", "127.0.0.1:1" })
        {
            using (HttpResponseMessage healthz = await GetAsync(node, "/healthz", other))
            {
                Assert.Equal(HttpStatusCode.OK, healthz.StatusCode);
                Assert.Equal("ok\n", await healthz.Content.ReadAsStringAsync());
            }
            using (HttpResponseMessage range = await GetAsync(node, SampleBlob, other, "bytes=0-99"))
            {
                Assert.Equal(HttpStatusCode.PartialContent, range.StatusCode);
                Assert.Equal(100, (await range.Content.ReadAsByteArrayAsync()).Length);
            }
            using HttpResponseMessage missing = await GetAsync(node, $"/{Azurite.Account}/sample/no-such-blob", other);
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
            Assert.Equal("BlobNotFound", missing.Headers.GetValues("x-ms-error-code").Single());
        }

        // What the server refuses before any handler comes as Blob's errors too: status, x-ms-error-code, XML.
        const string host = "cache.svc:80";
        string malformed = await RawAsync(node.HttpPort, $"GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Bad: \u0001\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 400 ", malformed, StringComparison.Ordinal);
        Assert.Contains("x-ms-error-code: InvalidInput", malformed, StringComparison.Ordinal);
        Assert.Contains("<Error><Code>InvalidInput</Code><Message>", malformed, StringComparison.Ordinal);
        string tooLarge = await RawAsync(node.HttpPort, $"PUT {SampleBlob} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2000000\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 413 ", tooLarge, StringComparison.Ordinal);
        Assert.Contains("x-ms-error-code: RequestBodyTooLarge", tooLarge, StringComparison.Ordinal);
        Assert.Contains("<Code>RequestBodyTooLarge</Code>", tooLarge, StringComparison.Ordinal);
    }

    /// <summary>A node on the built-in sample origin (no Azurite needed), ready.</summary>
    private static async Task<NodeProcess> StartReadyAsync(string id, params string[] extra)
    {
        NodeProcess node = NodeProcess.Start(id, "sample", [], extra);
        try
        {
            await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    private static async Task<HttpResponseMessage> GetAsync(NodeProcess node, string path, string host, string? range = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{node.HttpPort}{path}");
        request.Headers.Host = host;
        if (range is not null) request.Headers.TryAddWithoutValidation("x-ms-range", range);
        return await Http.SendAsync(request);
    }

    /// <summary>A probe as the kubelet makes it: a new connection, one request, read to the close.</summary>
    private static Task<string> ProbeAsync(int port, string path) =>
        RawAsync(port, $"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: kube-probe/1.31\r\nConnection: close\r\n\r\n");

    /// <summary>Sends <paramref name="request"/> on a new connection and reads everything until the node closes it.</summary>
    private static async Task<string> RawAsync(int port, string request)
    {
        using Socket s = await ConnectAsync(port);
        await SendAsync(s, request, []);
        var all = new MemoryStream();
        byte[] buffer = new byte[16 * 1024];
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            int n;
            while ((n = await s.ReceiveAsync(buffer, SocketFlags.None, deadline.Token)) > 0) all.Write(buffer, 0, n);
        }
        catch (SocketException e)
        {
            return $"(connection failed after {all.Length} bytes: {e.SocketErrorCode}) {Encoding.Latin1.GetString(all.ToArray())}";
        }
        catch (OperationCanceledException)
        {
            return $"(no close within 10 s) {Encoding.Latin1.GetString(all.ToArray())}";
        }
        return Encoding.Latin1.GetString(all.ToArray());
    }

    private static async Task<Socket> ConnectAsync(int port)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await s.ConnectAsync(IPAddress.Loopback, port);
        return s;
    }

    private static async Task SendAsync(Socket s, string head, byte[] body)
    {
        if (head.Length > 0) await s.SendAsync(Encoding.ASCII.GetBytes(head));
        if (body.Length > 0) await s.SendAsync(body);
    }

    /// <summary>
    /// One response from a connection that may stay open, as text: head and body when it has a Content-Length, the
    /// head alone when not (a chunked answer).
    /// </summary>
    private static async Task<string> ReadResponseAsync(Socket s)
    {
        var text = new StringBuilder();
        byte[] one = new byte[16 * 1024];
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        int headEnd, length = -1;
        while (true)
        {
            string sofar = text.ToString();
            headEnd = sofar.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (headEnd >= 0)
            {
                foreach (string line in sofar[..headEnd].Split("\r\n"))
                {
                    if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)) length = int.Parse(line[15..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
                }
                if (length < 0 || sofar.Length >= headEnd + 4 + length) return sofar;
            }
            int n = await s.ReceiveAsync(one, SocketFlags.None, deadline.Token);
            if (n == 0) return sofar;
            text.Append(Encoding.Latin1.GetString(one, 0, n));
        }
    }

    /// <summary>True when the other end has closed the connection (a read would end or fail at once).</summary>
    private static bool ClosedByPeer(Socket s)
    {
        if (!s.Poll(0, SelectMode.SelectRead)) return false;
        try
        {
            return s.Receive(new byte[1], SocketFlags.None) == 0;
        }
        catch (SocketException)
        {
            return true;
        }
    }
}
