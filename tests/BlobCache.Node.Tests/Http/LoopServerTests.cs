using System.Net;
using System.Net.Sockets;
using System.Text;
using BlobCache.Http;
using BlobCache.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobCache.Node.Tests.Http;

/// <summary>
/// The event-loop server under a small ASP.NET Core application, spoken to over real loopback sockets: by
/// HttpClient, and by hand where the bytes on the wire are the point (pipelining, malformed heads, framing).
/// </summary>
public sealed class LoopServerTests : IAsyncLifetime
{
    private static readonly byte[] Big = MakeBig(8 * 1024 * 1024 + 123);
    private WebApplication _app = null!;
    private LoopServer _server = null!;
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task InitializeAsync()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        _server = new LoopServer(new IPEndPoint(IPAddress.Loopback, 0), NullLoggerFactory.Instance) { MaxRequestBodyBytes = 64 * 1024 };
        builder.Services.AddSingleton<IServer>(_server);
        _app = builder.Build();
        _app.MapGet("/hello", () => "hello");
        _app.MapMethods("/big", ["GET", "HEAD"], async context =>
        {
            context.Response.ContentLength = Big.Length;
            for (int at = 0; at < Big.Length; at += 1 << 20)
                await context.Response.Body.WriteAsync(Big.AsMemory(at, Math.Min(1 << 20, Big.Length - at)));
        });
        _app.MapGet("/chunked", async context =>
        {
            for (int i = 0; i < 3; i++)
            {
                await context.Response.WriteAsync($"part {i};");
                await context.Response.Body.FlushAsync();
            }
        });
        _app.MapPost("/echo-length", async context =>
        {
            using var ms = new MemoryStream();
            await context.Request.Body.CopyToAsync(ms);
            await context.Response.WriteAsync($"{ms.Length} {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(ms.ToArray()))}");
        });
        _app.MapGet("/throw-before", string () => throw new InvalidOperationException("boom before the response"));
        _app.MapGet("/throw-after", async context =>
        {
            context.Response.ContentLength = 100;
            await context.Response.Body.WriteAsync(new byte[10]);
            throw new InvalidOperationException("boom after 10 bytes");
        });
        _app.MapGet("/wait", async context =>
        {
            await _release.Task; // finishes on a thread-pool thread, not the loop
            await context.Response.WriteAsync("released");
        });
        _app.MapGet("/cancelled-write", async context =>
        {
            string outcome;
            try
            {
                await context.Response.Body.WriteAsync("not sent"u8.ToArray(), new CancellationToken(canceled: true));
                outcome = "written";
            }
            catch (OperationCanceledException)
            {
                outcome = "cancelled";
            }
            await context.Response.WriteAsync(outcome);
        });
        _app.MapGet("/path/{**rest}", (HttpContext c) => c.Request.Path.Value + "|" + c.Request.QueryString.Value);
        await _app.StartAsync();
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    private Uri Url(string path) => new($"http://127.0.0.1:{_server.Port}{path}");

    [Fact]
    public async Task Serves_fixed_length_chunked_large_and_head_responses_byte_exact()
    {
        using var client = new HttpClient();
        Assert.Equal("hello", await client.GetStringAsync(Url("/hello")));
        byte[] big = await client.GetByteArrayAsync(Url("/big"));
        Assert.True(Big.AsSpan().SequenceEqual(big), "8 MiB body differs");
        using HttpResponseMessage chunked = await client.GetAsync(Url("/chunked"));
        Assert.True(chunked.Headers.TransferEncodingChunked);
        Assert.Equal("part 0;part 1;part 2;", await chunked.Content.ReadAsStringAsync());
        using HttpResponseMessage head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, Url("/big")));
        Assert.Equal(Big.Length, head.Content.Headers.ContentLength);
        Assert.Equal("/path/a%2Fb/é|?x=%2F", await client.GetStringAsync(Url("/path/a%2Fb/%C3%A9?x=%2F")));
    }

    [Fact]
    public async Task A_slow_reader_gets_every_byte_of_a_large_response()
    {
        // A small receive buffer read in small pieces: the server meets a full socket and must wait for EPOLLOUT.
        using var socket = await ConnectAsync(receiveBuffer: 4096);
        await socket.SendAsync(Encoding.ASCII.GetBytes("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
        (string head, byte[] body) = await ReadResponseAsync(socket, receiveBytes: 4096);
        Assert.StartsWith("HTTP/1.1 200", head, StringComparison.Ordinal);
        Assert.True(Big.AsSpan().SequenceEqual(body), "body differs");
    }

    [Fact]
    public async Task Pipelined_requests_are_answered_in_order_on_one_connection()
    {
        using var socket = await ConnectAsync();
        await socket.SendAsync(Encoding.ASCII.GetBytes(
            "GET /hello HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo-length HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /path/q?z=1 HTTP/1.1\r\nHost: x\r\n\r\n"));
        Assert.Equal("hello", Encoding.ASCII.GetString((await ReadResponseAsync(socket)).Body));
        Assert.StartsWith("3 ", Encoding.ASCII.GetString((await ReadResponseAsync(socket)).Body), StringComparison.Ordinal);
        Assert.Equal("/path/q|?z=1", Encoding.ASCII.GetString((await ReadResponseAsync(socket)).Body));
    }

    [Fact]
    public async Task Request_bodies_arrive_whole_by_length_or_chunked_and_too_large_is_413()
    {
        byte[] payload = MakeBig(40_000);
        string digest = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(payload));
        using var client = new HttpClient();
        using (var content = new ByteArrayContent(payload))
        {
            using HttpResponseMessage r = await client.PostAsync(Url("/echo-length"), content);
            Assert.Equal($"40000 {digest}", await r.Content.ReadAsStringAsync());
        }
        using (var chunked = new StreamContent(new NonSeekableStream(payload)))
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, Url("/echo-length")) { Content = chunked };
            request.Headers.TransferEncodingChunked = true;
            request.Headers.ExpectContinue = true;
            using HttpResponseMessage r = await client.SendAsync(request);
            Assert.Equal($"40000 {digest}", await r.Content.ReadAsStringAsync());
        }
        using (var tooLarge = new ByteArrayContent(new byte[100_000]))
        {
            using HttpResponseMessage r = await client.PostAsync(Url("/echo-length"), tooLarge);
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r.StatusCode);
        }
    }

    [Theory]
    [InlineData("GET /hello HTTP/1.1\r\n\r\n", 400)] // no Host
    [InlineData("GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400)]
    [InlineData("GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400)]
    [InlineData("GET /hello HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400)]
    [InlineData("GET /hello HTTP/1.1\nHost: x\n\n", 400)]
    [InlineData("GET /hello HTTP/2.0\r\nHost: x\r\n\r\n", 505)]
    [InlineData("GET /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501)]
    [InlineData("GET http://x/hello HTTP/1.1\r\nHost: x\r\n\r\n", 400)]
    public async Task A_malformed_head_gets_its_status_and_the_connection_closes(string request, int status)
    {
        using var socket = await ConnectAsync();
        await socket.SendAsync(Encoding.ASCII.GetBytes(request));
        (string head, _) = await ReadResponseAsync(socket);
        Assert.StartsWith($"HTTP/1.1 {status} ", head, StringComparison.Ordinal);
        Assert.Contains("Connection: close", head, StringComparison.Ordinal);
        Assert.Equal(0, await ReceiveAsync(socket, new byte[16])); // closed by the server
    }

    [Fact]
    public async Task A_client_that_half_closes_after_its_request_still_gets_the_answer()
    {
        using var socket = await ConnectAsync();
        await socket.SendAsync(Encoding.ASCII.GetBytes("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
        socket.Shutdown(SocketShutdown.Send);
        Assert.Equal("hello", Encoding.ASCII.GetString((await ReadResponseAsync(socket)).Body));
        Assert.Equal(0, await ReceiveAsync(socket, new byte[16])); // then the server closes its side too
    }

    [Fact]
    public async Task A_head_over_32_KiB_is_431()
    {
        using var socket = await ConnectAsync();
        await socket.SendAsync(Encoding.ASCII.GetBytes("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + new string('a', 40_000) + "\r\n\r\n"));
        (string head, _) = await ReadResponseAsync(socket);
        Assert.StartsWith("HTTP/1.1 431 ", head, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_handler_that_throws_before_answering_gets_500_and_the_connection_stays_usable()
    {
        using var socket = await ConnectAsync();
        await socket.SendAsync(Encoding.ASCII.GetBytes("GET /throw-before HTTP/1.1\r\nHost: x\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 500 ", (await ReadResponseAsync(socket)).Head, StringComparison.Ordinal);
        await socket.SendAsync(Encoding.ASCII.GetBytes("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
        Assert.Equal("hello", Encoding.ASCII.GetString((await ReadResponseAsync(socket)).Body));
    }

    [Fact]
    public async Task A_handler_that_throws_mid_body_closes_the_connection_short_of_its_length()
    {
        using var socket = await ConnectAsync();
        await socket.SendAsync(Encoding.ASCII.GetBytes("GET /throw-after HTTP/1.1\r\nHost: x\r\n\r\n"));
        byte[] all = await ReadToEndAsync(socket);
        string text = Encoding.Latin1.GetString(all);
        Assert.StartsWith("HTTP/1.1 200 ", text, StringComparison.Ordinal);
        Assert.Contains("Content-Length: 100", text, StringComparison.Ordinal);
        Assert.Equal(10, all.Length - (text.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)); // 10 of 100 bytes, then the close
    }

    [Fact]
    public async Task A_handler_finishing_off_the_loop_answers_while_the_loop_serves_others()
    {
        using var client = new HttpClient();
        Task<string> waiting = client.GetStringAsync(Url("/wait"));
        // The loop is not held by the waiting request: other requests are served meanwhile.
        for (int i = 0; i < 20; i++) Assert.Equal("hello", await client.GetStringAsync(Url("/hello")));
        Assert.False(waiting.IsCompleted);
        _release.SetResult();
        Assert.Equal("released", await waiting.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_write_with_a_cancelled_token_sends_nothing_and_throws()
    {
        using var client = new HttpClient();
        Assert.Equal("cancelled", await client.GetStringAsync(Url("/cancelled-write")));
    }

    [Fact]
    public async Task Stopping_closes_idle_connections()
    {
        using var socket = await ConnectAsync();
        await socket.SendAsync(Encoding.ASCII.GetBytes("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
        await ReadResponseAsync(socket);
        await _app.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        Assert.Equal(0, await ReceiveAsync(socket, new byte[16]));
    }

    [Fact]
    public async Task Idle_connections_half_sent_heads_and_unread_responses_are_closed_after_their_timeouts()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var server = new LoopServer(new IPEndPoint(IPAddress.Loopback, 0), NullLoggerFactory.Instance)
        {
            KeepAliveTimeout = TimeSpan.FromSeconds(1),
            StallTimeout = TimeSpan.FromSeconds(1),
        };
        builder.Services.AddSingleton<IServer>(server);
        await using WebApplication app = builder.Build();
        app.MapGet("/hello", () => "hello");
        var handlerFailed = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        app.MapGet("/big", async context =>
        {
            context.Response.ContentLength = Big.Length;
            try
            {
                await context.Response.Body.WriteAsync(Big);
            }
            catch (Exception e)
            {
                handlerFailed.TrySetResult(e);
                throw;
            }
        });
        await app.StartAsync();
        using var idle = await ConnectAsync(port: server.Port);
        await idle.SendAsync(Encoding.ASCII.GetBytes("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
        Assert.Equal("hello", Encoding.ASCII.GetString((await ReadResponseAsync(idle)).Body));
        using var stalled = await ConnectAsync(port: server.Port);
        await stalled.SendAsync(Encoding.ASCII.GetBytes("GET /hello HTTP/1.1\r\nHost:")); // and nothing more
        // Both are closed by the server within a few sweeps (the reads block until then; 30 s is the test's bound).
        Assert.Equal(0, await ReceiveAsync(idle, new byte[16]));
        Assert.Equal(0, await ReceiveAsync(stalled, new byte[16]));

        // A client that asks for 8 MiB and reads none of it: the write waits, then the connection is dropped and
        // the handler's write fails (so it lets go of what it was sending) instead of waiting forever.
        using var unread = await ConnectAsync(receiveBuffer: 4096, port: server.Port);
        await unread.SendAsync(Encoding.ASCII.GetBytes("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
        Exception failure = await handlerFailed.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.IsType<IOException>(failure);
        Assert.True((await ReadToEndAsync(unread)).Length < Big.Length);
    }

    [Fact]
    public async Task A_port_another_server_listens_on_is_refused_and_bad_heads_are_counted()
    {
        using var second = new LoopServer(new IPEndPoint(IPAddress.Loopback, _server.Port), NullLoggerFactory.Instance);
        IOException e = await Assert.ThrowsAsync<IOException>(() => second.StartAsync(new NoApplication(), CancellationToken.None));
        Assert.Contains($"{_server.Port}", e.Message, StringComparison.Ordinal);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var third = new LoopServer((IPEndPoint)listener.LocalEndpoint, NullLoggerFactory.Instance);
        await Assert.ThrowsAsync<IOException>(() => third.StartAsync(new NoApplication(), CancellationToken.None));

        long refused = _server.Refused(Refusal.Malformed);
        using var socket = await ConnectAsync();
        await socket.SendAsync(Encoding.ASCII.GetBytes("GET /hello HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 400 ", (await ReadResponseAsync(socket)).Head, StringComparison.Ordinal);
        Assert.Equal(refused + 1, _server.Refused(Refusal.Malformed));
    }

    [Fact]
    public async Task Bound_to_the_IPv6_any_address_it_serves_both_IPv6_and_IPv4_clients()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var server = new LoopServer(new IPEndPoint(IPAddress.IPv6Any, 0), NullLoggerFactory.Instance);
        builder.Services.AddSingleton<IServer>(server);
        await using WebApplication app = builder.Build();
        app.MapGet("/who", (HttpContext c) => c.Connection.RemoteIpAddress?.ToString() ?? "none");
        await app.StartAsync();
        using var client = new HttpClient();
        Assert.Equal("::1", await client.GetStringAsync(new Uri($"http://[::1]:{server.Port}/who")));
        Assert.Equal("::ffff:127.0.0.1", await client.GetStringAsync(new Uri($"http://127.0.0.1:{server.Port}/who")));
    }

    [Fact]
    public async Task Connections_are_spread_evenly_over_the_loops()
    {
        // The kernel's reuse-port hash alone puts 12 connections 3/3/3/3 on four loops about 2% of the time.
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var server = new LoopServer(new IPEndPoint(IPAddress.Loopback, 0), NullLoggerFactory.Instance, loops: 4);
        builder.Services.AddSingleton<IServer>(server);
        await using WebApplication app = builder.Build();
        app.MapGet("/loop", () => Thread.CurrentThread.Name ?? "none"); // answered on the spot, on the connection's loop
        await app.StartAsync();
        var sockets = new List<Socket>();
        var perLoop = new Dictionary<string, int>();
        try
        {
            for (int i = 0; i < 12; i++)
            {
                Socket socket = await ConnectAsync(port: server.Port);
                sockets.Add(socket);
                await socket.SendAsync(Encoding.ASCII.GetBytes("GET /loop HTTP/1.1\r\nHost: x\r\n\r\n"));
                string loop = Encoding.ASCII.GetString((await ReadResponseAsync(socket)).Body);
                perLoop[loop] = perLoop.GetValueOrDefault(loop) + 1;
            }
        }
        finally
        {
            foreach (Socket s in sockets) s.Dispose();
        }
        Assert.Equal(4, perLoop.Count);
        Assert.All(perLoop, p => Assert.Equal(3, p.Value));
        Assert.All(perLoop.Keys, k => Assert.StartsWith("http loop ", k, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_GET_body_is_read_past_and_dropped_and_the_connection_stays_usable()
    {
        using var socket = await ConnectAsync();
        byte[] junk = MakeBig(50_000);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: {junk.Length}\r\n\r\n"));
        await socket.SendAsync(junk);
        await socket.SendAsync(Encoding.ASCII.GetBytes("GET /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n"));
        Assert.Equal("hello", Encoding.ASCII.GetString((await ReadResponseAsync(socket)).Body));
        Assert.Equal("hello", Encoding.ASCII.GetString((await ReadResponseAsync(socket)).Body));
        Assert.Equal(0, _server.BufferedBodyBytes);
    }

    [Fact]
    public async Task Bodies_past_the_memory_budget_get_503_and_the_budget_comes_back_when_they_end()
    {
        var server = new LoopServer(new IPEndPoint(IPAddress.Loopback, 0), NullLoggerFactory.Instance) { MaxBufferedBodyBytes = 100_000 };
        await using WebApplication app = await StartAsync(server, a => a.MapPost("/length", async context =>
        {
            using var ms = new MemoryStream();
            await context.Request.Body.CopyToAsync(ms);
            await context.Response.WriteAsync($"{ms.Length}");
        }));
        // The first body holds 60,000 of the 100,000 while it arrives; a second of 60,000 does not fit.
        using var first = await ConnectAsync(port: server.Port);
        await first.SendAsync(Encoding.ASCII.GetBytes("POST /length HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n0123456789"));
        await Wait.UntilAsync(() => Task.FromResult(server.BufferedBodyBytes == 60_000), TimeSpan.FromSeconds(10), "the first body to be reserved");
        using (var second = await ConnectAsync(port: server.Port))
        {
            await second.SendAsync(Encoding.ASCII.GetBytes("POST /length HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n"));
            (string head, byte[] body) = await ReadResponseAsync(second);
            Assert.StartsWith("HTTP/1.1 503 ", head, StringComparison.Ordinal);
            Assert.Contains("too many request bodies", Encoding.UTF8.GetString(body), StringComparison.Ordinal);
            Assert.Equal(1, server.Refused(Refusal.BodyMemory));
        }
        await first.SendAsync(new byte[60_000 - 10]);
        Assert.Equal("60000", Encoding.ASCII.GetString((await ReadResponseAsync(first)).Body));
        // The request ends once its response is sent, which the client can see a moment before the server has noted it.
        await Wait.UntilAsync(() => Task.FromResult(server.BufferedBodyBytes == 0), TimeSpan.FromSeconds(10), "the first body's budget to come back");
        using var third = await ConnectAsync(port: server.Port);
        await third.SendAsync(Encoding.ASCII.GetBytes("POST /length HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n"));
        await third.SendAsync(new byte[60_000]);
        Assert.Equal("60000", Encoding.ASCII.GetString((await ReadResponseAsync(third)).Body));
    }

    [Fact]
    public async Task A_head_trickled_in_and_a_connection_that_says_nothing_are_closed_at_the_receive_deadline()
    {
        var server = new LoopServer(new IPEndPoint(IPAddress.Loopback, 0), NullLoggerFactory.Instance) { ReceiveTimeout = TimeSpan.FromSeconds(1) };
        await using WebApplication app = await StartAsync(server, a => a.MapGet("/hello", () => "hello"));
        using var silent = await ConnectAsync(port: server.Port);
        using var trickle = await ConnectAsync(port: server.Port);
        // A byte every 100 ms: progress that the stall limit (30 s) would take for a live client, for as long as it lasts.
        byte[] head = Encoding.ASCII.GetBytes("GET /hello HTTP/1.1\r\nHost: x\r\nX-Padding: " + new string('a', 200));
        var started = System.Diagnostics.Stopwatch.StartNew();
        int sent = 0;
        try
        {
            for (; sent < head.Length && started.Elapsed < TimeSpan.FromSeconds(20); sent++)
            {
                await trickle.SendAsync(head.AsMemory(sent, 1));
                await Task.Delay(100);
            }
        }
        catch (SocketException)
        {
            // closed by the server under the trickle
        }
        Assert.True(sent < head.Length, "the whole trickled head was taken");
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10), $"the trickle was cut after {started.Elapsed}");
        Assert.Equal(0, await ReceiveAsync(trickle, new byte[16]));
        Assert.Equal(0, await ReceiveAsync(silent, new byte[16]));
        Assert.Equal(2, server.Refused(Refusal.TimedOut));
    }

    [Fact]
    public async Task Near_the_limit_the_longest_waiting_connection_is_shed_for_a_new_one()
    {
        var server = new LoopServer(new IPEndPoint(IPAddress.Loopback, 0), NullLoggerFactory.Instance) { MaxConnections = 20, ReservedConnections = 4 };
        await using WebApplication app = await StartAsync(server, a => a.MapGet("/hello", () => "hello"));
        var idle = new List<Socket>();
        try
        {
            for (int i = 0; i < 16; i++)
            {
                idle.Add(await ConnectAsync(port: server.Port));
                await Wait.UntilAsync(() => Task.FromResult(server.OpenConnections == idle.Count), TimeSpan.FromSeconds(10), $"connection {i} to be open");
                if (i == 0) await Task.Delay(10); // the first has waited strictly longest (the server's clock counts milliseconds)
            }
            using var fresh = await ConnectAsync(port: server.Port);
            await fresh.SendAsync(Encoding.ASCII.GetBytes("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
            Assert.Equal("hello", Encoding.ASCII.GetString((await ReadResponseAsync(fresh)).Body));
            Assert.Equal(0, await ReceiveAsync(idle[0], new byte[16])); // the first one opened waited longest
            Assert.Equal(1, server.Refused(Refusal.Shed));
            Assert.Equal(16, server.OpenConnections);
        }
        finally
        {
            foreach (Socket s in idle) s.Dispose();
        }
    }

    [Fact]
    public async Task When_every_connection_is_busy_the_reserve_answers_probes_only_and_past_it_connections_are_closed_at_accept()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int entered = 0;
        var server = new LoopServer(new IPEndPoint(IPAddress.Loopback, 0), NullLoggerFactory.Instance)
        {
            MaxConnections = 20,
            ReservedConnections = 4,
            ReservedPaths = ["/probe", "/probe-wait"],
        };
        await using WebApplication app = await StartAsync(server, a =>
        {
            a.MapGet("/probe", () => "alive");
            a.MapGet("/other", () => "other");
            RequestDelegate wait = async context =>
            {
                Interlocked.Increment(ref entered);
                await gate.Task;
                await context.Response.WriteAsync("released");
            };
            a.MapGet("/wait", wait);
            a.MapGet("/probe-wait", wait);
        });
        var busy = new List<Socket>();
        try
        {
            // Sixteen requests in handlers fill the normal slots: nothing there can be shed.
            for (int i = 0; i < 16; i++) busy.Add(await SendAndWaitEnteredAsync("/wait", i + 1));
            using (var other = await ConnectAsync(port: server.Port))
            {
                await other.SendAsync(Encoding.ASCII.GetBytes("GET /other HTTP/1.1\r\nHost: x\r\n\r\n"));
                Assert.StartsWith("HTTP/1.1 503 ", (await ReadResponseAsync(other)).Head, StringComparison.Ordinal);
            }
            using (var probe = await ConnectAsync(port: server.Port))
            {
                await probe.SendAsync(Encoding.ASCII.GetBytes("GET /probe HTTP/1.1\r\nHost: x\r\n\r\n"));
                (string head, byte[] body) = await ReadResponseAsync(probe);
                Assert.Equal("alive", Encoding.ASCII.GetString(body));
                Assert.Contains("Connection: close", head, StringComparison.Ordinal); // a reserved slot is given back at once
            }
            Assert.Equal(1, server.Refused(Refusal.NotAProbe));

            // Probes that hang fill the reserve too: the next connection is closed at accept.
            await Wait.UntilAsync(() => Task.FromResult(server.OpenConnections == 16), TimeSpan.FromSeconds(10), "the reserved slots to be given back");
            for (int i = 0; i < 4; i++) busy.Add(await SendAndWaitEnteredAsync("/probe-wait", 17 + i));
            using (var over = await ConnectAsync(port: server.Port))
            {
                await over.SendAsync(Encoding.ASCII.GetBytes("GET /probe HTTP/1.1\r\nHost: x\r\n\r\n"));
                Assert.Equal(0, await ReceiveAsync(over, new byte[16]));
            }
            Assert.Equal(1, server.Refused(Refusal.OverLimit));
            Assert.Equal(0, server.Refused(Refusal.Shed));
            gate.SetResult();
            foreach (Socket s in busy) Assert.Equal("released", Encoding.ASCII.GetString((await ReadResponseAsync(s)).Body));
        }
        finally
        {
            gate.TrySetResult();
            foreach (Socket s in busy) s.Dispose();
        }

        async Task<Socket> SendAndWaitEnteredAsync(string path, int expected)
        {
            Socket s = await ConnectAsync(port: server.Port);
            await s.SendAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
            await Wait.UntilAsync(() => Task.FromResult(Volatile.Read(ref entered) == expected), TimeSpan.FromSeconds(10), $"request {expected} to be in its handler");
            return s;
        }
    }

    /// <summary>Starts <paramref name="server"/> under an application with <paramref name="routes"/>.</summary>
    private static async Task<WebApplication> StartAsync(LoopServer server, Action<WebApplication> routes)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<IServer>(server);
        WebApplication app = builder.Build();
        routes(app);
        await app.StartAsync();
        return app;
    }

    private sealed class NoApplication : IHttpApplication<object>
    {
        public object CreateContext(Microsoft.AspNetCore.Http.Features.IFeatureCollection contextFeatures) => new();
        public void DisposeContext(object context, Exception? exception) { }
        public Task ProcessRequestAsync(object context) => Task.CompletedTask;
    }

    private async Task<Socket> ConnectAsync(int receiveBuffer = 0, int port = 0)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (receiveBuffer > 0) socket.ReceiveBufferSize = receiveBuffer;
        await socket.ConnectAsync(IPAddress.Loopback, port == 0 ? _server.Port : port);
        return socket;
    }

    private static async Task<int> ReceiveAsync(Socket socket, byte[] buffer)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            return await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return 0;
        }
    }

    private static async Task<byte[]> ReadToEndAsync(Socket socket)
    {
        var all = new MemoryStream();
        byte[] buffer = new byte[65536];
        int n;
        while ((n = await ReceiveAsync(socket, buffer)) > 0) all.Write(buffer, 0, n);
        return all.ToArray();
    }

    // Reads one response with a Content-Length (or none, for errors that close): head text and body bytes.
    private readonly Dictionary<Socket, List<byte>> _leftover = [];

    private async Task<(string Head, byte[] Body)> ReadResponseAsync(Socket socket, int receiveBytes = 65536)
    {
        List<byte> data = _leftover.TryGetValue(socket, out var l) ? l : (_leftover[socket] = []);
        byte[] buffer = new byte[receiveBytes];
        int headEnd;
        while ((headEnd = IndexOf(data, "\r\n\r\n"u8)) < 0)
        {
            int n = await ReceiveAsync(socket, buffer);
            if (n == 0) throw new IOException("closed before a response head");
            data.AddRange(buffer.AsSpan(0, n));
        }
        string head = Encoding.Latin1.GetString([.. data.Take(headEnd)]);
        data.RemoveRange(0, headEnd + 4);
        bool chunked = head.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase);
        int length = 0;
        foreach (string line in head.Split("\r\n"))
        {
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)) length = int.Parse(line[15..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
        }
        if (!chunked)
        {
            await FillAsync(socket, data, buffer, length);
            byte[] body = [.. data.Take(length)];
            data.RemoveRange(0, length);
            return (head, body);
        }
        var decoded = new List<byte>();
        while (true)
        {
            int lineEnd;
            while ((lineEnd = IndexOf(data, "\r\n"u8)) < 0) await FillAsync(socket, data, buffer, data.Count + 1);
            int size = int.Parse(Encoding.ASCII.GetString([.. data.Take(lineEnd)]), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
            data.RemoveRange(0, lineEnd + 2);
            await FillAsync(socket, data, buffer, size + 2);
            decoded.AddRange(data.Take(size));
            data.RemoveRange(0, size + 2);
            if (size == 0) return (head, [.. decoded]);
        }
    }

    private static async Task FillAsync(Socket socket, List<byte> data, byte[] buffer, int atLeast)
    {
        while (data.Count < atLeast)
        {
            int n = await ReceiveAsync(socket, buffer);
            if (n == 0) throw new IOException($"closed after {data.Count} of {atLeast} bytes");
            data.AddRange(buffer.AsSpan(0, n));
        }
    }

    private static int IndexOf(List<byte> data, ReadOnlySpan<byte> what)
    {
        for (int i = 0; i + what.Length <= data.Count; i++)
        {
            int j = 0;
            while (j < what.Length && data[i + j] == what[j]) j++;
            if (j == what.Length) return i;
        }
        return -1;
    }

    private static byte[] MakeBig(int length)
    {
        byte[] b = new byte[length];
        new Random(length).NextBytes(b);
        return b;
    }

    private sealed class NonSeekableStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}
