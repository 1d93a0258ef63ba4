using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace BlobCache.Testing;

/// <summary>What the proxy does to one request.</summary>
public enum FaultKind { None, Status, Delay, Hang, CutBody }

/// <summary>A fault for one request: pass it on, answer an error, delay it, never answer, or cut the body short.</summary>
public readonly record struct Fault(FaultKind Kind, int Status = 0, TimeSpan Delay = default, long CutAfterBytes = 0)
{
    public static Fault Pass => default;
    public static Fault Hang => new(FaultKind.Hang);
    public static Fault Error(int status) => new(FaultKind.Status, Status: status);
    public static Fault Slow(TimeSpan delay) => new(FaultKind.Delay, Delay: delay);
    /// <summary>Relay the response head and this many body bytes, then close the connection.</summary>
    public static Fault Cut(long afterBytes) => new(FaultKind.CutBody, CutAfterBytes: afterBytes);
}

/// <summary>One request as the proxy saw it; the range is <c>x-ms-range</c> or <c>Range</c> when present.</summary>
public sealed record ProxiedRequest(string Method, string Target, long? RangeStart, long? RangeEnd)
{
    /// <summary>The target without its query: <c>/account/container/blob</c>.</summary>
    public string Path => Target.Split('?')[0];
}

/// <summary>
/// A fault-injecting HTTP/1.1 reverse proxy in front of a real server (Azurite): each request gets a
/// <see cref="Fault"/> from <see cref="Rule"/>, and every request is recorded so a test can count them. One request
/// per connection (both sides are told <c>Connection: close</c>), which keeps the relay a plain byte copy.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly IPEndPoint _upstream;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<ProxiedRequest> _requests = new();
    private readonly BackgroundTasks _connections = new();
    private Task? _accepting;

    public FaultProxy(int upstreamPort, IPAddress? bind = null, int port = 0)
    {
        _upstream = new IPEndPoint(IPAddress.Loopback, upstreamPort);
        _listener = new TcpListener(bind ?? IPAddress.Loopback, port == 0 ? Ports.Next() : port);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Decides each request's fault; the default passes everything through. May be swapped at any time.</summary>
    public Func<ProxiedRequest, Fault> Rule { get; set; } = _ => Fault.Pass;

    public IReadOnlyList<ProxiedRequest> Requests => _requests.ToArray();

    public void Start()
    {
        _listener.Start(512);
        _accepting = _connections.AcceptAllAsync(_listener, ServeAsync, _stop.Token);
    }

    private async Task ServeAsync(Socket client)
    {
        using (client)
        {
            try
            {
                await using var clientStream = new NetworkStream(client, ownsSocket: false);
                (byte[] head, byte[] rest) = await ReadHeadAsync(clientStream).ConfigureAwait(false);
                if (head.Length == 0) return;
                string headText = Encoding.ASCII.GetString(head);
                string[] lines = headText.Split("\r\n");
                string[] start = lines[0].Split(' ');
                if (start.Length < 3) return;
                long contentLength = 0;
                string? range = null, msRange = null;
                var forwarded = new StringBuilder(lines[0]).Append("\r\n");
                foreach (string line in lines.Skip(1))
                {
                    if (line.Length == 0) continue;
                    int colon = line.IndexOf(':', StringComparison.Ordinal);
                    if (colon <= 0) continue;
                    string name = line[..colon].Trim(), value = line[(colon + 1)..].Trim();
                    if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)) contentLength = long.Parse(value, CultureInfo.InvariantCulture);
                    if (name.Equals("Range", StringComparison.OrdinalIgnoreCase)) range = value;
                    if (name.Equals("x-ms-range", StringComparison.OrdinalIgnoreCase)) msRange = value;
                    if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase) || name.Equals("Keep-Alive", StringComparison.OrdinalIgnoreCase)) continue;
                    forwarded.Append(line).Append("\r\n");
                }
                forwarded.Append("Connection: close\r\n\r\n");
                byte[] body = new byte[contentLength];
                int have = Math.Min(rest.Length, body.Length);
                rest.AsSpan(0, have).CopyTo(body);
                if (have < body.Length) await clientStream.ReadExactlyAsync(body.AsMemory(have), _stop.Token).ConfigureAwait(false);

                (long? from, long? to) = ParseRange(msRange ?? range);
                var request = new ProxiedRequest(start[0], start[1], from, to);
                _requests.Enqueue(request);
                Fault fault = Rule(request);
                switch (fault.Kind)
                {
                    case FaultKind.Status:
                        await WriteErrorAsync(clientStream, fault.Status).ConfigureAwait(false);
                        return;
                    case FaultKind.Hang:
                        // Never answer; hold the connection until the client gives up or the proxy stops.
                        try
                        {
                            byte[] sink = new byte[256];
                            while (await clientStream.ReadAsync(sink, _stop.Token).ConfigureAwait(false) > 0)
                            {
                            }
                        }
                        catch (Exception e) when (e is IOException or OperationCanceledException)
                        {
                        }
                        return;
                    case FaultKind.Delay:
                        await Task.Delay(fault.Delay, _stop.Token).ConfigureAwait(false);
                        break;
                }
                await RelayAsync(clientStream, Encoding.ASCII.GetBytes(forwarded.ToString()), body,
                    fault.Kind == FaultKind.CutBody ? fault.CutAfterBytes : long.MaxValue).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // a client that went away, or the proxy stopping
            }
        }
    }

    private async Task RelayAsync(NetworkStream client, byte[] head, byte[] body, long cutAfter)
    {
        using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await upstream.ConnectAsync(_upstream, _stop.Token).ConfigureAwait(false);
        await using var upstreamStream = new NetworkStream(upstream, ownsSocket: false);
        await upstreamStream.WriteAsync(head, _stop.Token).ConfigureAwait(false);
        if (body.Length > 0) await upstreamStream.WriteAsync(body, _stop.Token).ConfigureAwait(false);
        byte[] buffer = new byte[64 * 1024];
        int headState = 0; // how much of "\r\n\r\n" has been seen; 4 = in the body
        long bodySent = 0;
        int n;
        while ((n = await upstreamStream.ReadAsync(buffer, _stop.Token).ConfigureAwait(false)) > 0)
        {
            int send = n;
            if (cutAfter != long.MaxValue)
            {
                int i = 0;
                for (; i < n && headState < 4; i++)
                    headState = buffer[i] == (headState % 2 == 0 ? '\r' : '\n') ? headState + 1 : buffer[i] == '\r' ? 1 : 0;
                long bodyHere = n - i;
                if (bodySent + bodyHere >= cutAfter)
                {
                    send = (int)(i + (cutAfter - bodySent));
                    await client.WriteAsync(buffer.AsMemory(0, send), _stop.Token).ConfigureAwait(false);
                    client.Socket.LingerState = new LingerOption(true, 0); // an abrupt end, as a broken network gives
                    return;
                }
                bodySent += bodyHere;
            }
            await client.WriteAsync(buffer.AsMemory(0, send), _stop.Token).ConfigureAwait(false);
        }
    }

    private static async Task WriteErrorAsync(NetworkStream client, int status)
    {
        string code = status == 503 ? "ServerBusy" : "InternalError";
        string reason = status == 503 ? "Service Unavailable" : "Internal Server Error";
        byte[] xml = Encoding.UTF8.GetBytes($"<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>injected by the test proxy</Message></Error>");
        string head = $"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\nContent-Length: {xml.Length}\r\nx-ms-error-code: {code}\r\n" +
                      $"x-ms-request-id: {Guid.NewGuid()}\r\nConnection: close\r\n\r\n";
        await client.WriteAsync(Encoding.ASCII.GetBytes(head)).ConfigureAwait(false);
        await client.WriteAsync(xml).ConfigureAwait(false);
    }

    private static (long?, long?) ParseRange(string? header)
    {
        if (header is null || !header.StartsWith("bytes=", StringComparison.Ordinal)) return (null, null);
        string[] parts = header[6..].Split('-');
        long? from = long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long a) ? a : null;
        long? to = parts.Length > 1 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long b) ? b : null;
        return (from, to);
    }

    // Reads up to and including the blank line; returns the head and whatever came after it.
    private async Task<(byte[] Head, byte[] After)> ReadHeadAsync(NetworkStream stream)
    {
        byte[] buffer = new byte[16 * 1024];
        int filled = 0;
        while (filled < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer.AsMemory(filled), _stop.Token).ConfigureAwait(false);
            if (n == 0) return ([], []);
            filled += n;
            int end = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8);
            if (end >= 0) return (buffer[..(end + 4)], buffer[(end + 4)..filled]);
        }
        throw new IOException("request head larger than 16 KiB");
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        if (_accepting is not null) await _accepting.ConfigureAwait(false);
        await _connections.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        _stop.Dispose();
    }
}
