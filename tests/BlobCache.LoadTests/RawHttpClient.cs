using System.Buffers.Text;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace BlobCache.LoadTests;

/// <summary>
/// A minimal blocking HTTP/1.1 keep-alive client for ranged GETs, meant to run on a thread of its own: one socket,
/// the request bytes built once (only the range's digits are rewritten per request, and not at all when the range
/// repeats), headers parsed on spans for the status and Content-Length, the body read into a reused buffer. A
/// request costs a send and a receive or two, no allocation and no thread-pool hop, so on a 2-core machine the load
/// generator costs about what wrk does per request and leaves the server the same CPU.
/// </summary>
public sealed class RawHttpClient : IDisposable
{
    private const int IoTimeoutMs = 30_000;
    private readonly EndPoint _endPoint;
    private readonly byte[] _request = new byte[2048];
    private readonly int _prefixLength;
    private readonly byte[] _buffer;
    private Socket? _socket;
    private int _start, _end; // unread bytes in _buffer
    private long _lastStart = -1, _lastEnd = -1;
    private int _requestLength;

    public RawHttpClient(Uri url, int bufferBytes)
    {
        _endPoint = IPAddress.TryParse(url.Host, out IPAddress? ip) ? new IPEndPoint(ip, url.Port) : new DnsEndPoint(url.Host, url.Port);
        byte[] prefix = Encoding.ASCII.GetBytes($"GET {url.PathAndQuery} HTTP/1.1\r\nHost: {url.Authority}\r\nRange: bytes=");
        prefix.CopyTo(_request, 0);
        _prefixLength = prefix.Length;
        _buffer = new byte[Math.Max(bufferBytes, 64 * 1024)];
    }

    /// <summary>Sends one ranged GET and reads the whole answer, blocking; returns the status and body length.</summary>
    public (int Status, long BodyBytes) GetRange(long start, long end)
    {
        if (_socket is null)
        {
            // Timeouts bound a blocking call on a server that stops answering: it fails as an error instead of
            // holding the reader's thread past the end of the run.
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveTimeout = IoTimeoutMs, SendTimeout = IoTimeoutMs };
            try
            {
                socket.Connect(_endPoint);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
            _socket = socket;
            _start = _end = 0;
        }
        if (start != _lastStart || end != _lastEnd) BuildRequest(start, end);
        ReadOnlySpan<byte> request = _request.AsSpan(0, _requestLength);
        while (!request.IsEmpty) request = request[_socket.Send(request)..];

        // Headers: read until CRLFCRLF.
        int headerEnd;
        while ((headerEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8)) < 0)
        {
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            if (_end == _buffer.Length) throw new IOException("response headers too large");
            int got = _socket.Receive(_buffer.AsSpan(_end));
            if (got == 0) throw new IOException("connection closed before the headers");
            _end += got;
        }
        (int status, long length) = ParseHeaders(_buffer.AsSpan(_start, headerEnd));
        _start += headerEnd + 4;

        long remaining = length;
        long fromBuffer = Math.Min(remaining, _end - _start);
        _start += (int)fromBuffer;
        remaining -= fromBuffer;
        if (_start == _end) _start = _end = 0;
        while (remaining > 0)
        {
            int got = _socket.Receive(_buffer.AsSpan(0, (int)Math.Min(_buffer.Length, remaining)));
            if (got == 0) throw new IOException("connection closed in the body");
            remaining -= got;
        }
        return (status, length);
    }

    private void BuildRequest(long start, long end)
    {
        Span<byte> r = _request;
        int n = _prefixLength;
        Utf8Formatter.TryFormat(start, r[n..], out int w);
        n += w;
        r[n++] = (byte)'-';
        Utf8Formatter.TryFormat(end, r[n..], out w);
        n += w;
        "\r\n\r\n"u8.CopyTo(r[n..]);
        _requestLength = n + 4;
        (_lastStart, _lastEnd) = (start, end);
    }

    private static (int Status, long Length) ParseHeaders(ReadOnlySpan<byte> headers)
    {
        // "HTTP/1.1 206 Partial Content"
        if (headers.Length < 12 || !Utf8Parser.TryParse(headers.Slice(9, 3), out int status, out _)) throw new IOException("bad status line");
        long length = -1;
        foreach (Range line in headers.Split("\r\n"u8))
        {
            ReadOnlySpan<byte> l = headers[line];
            if (l.Length > 15 && Ascii.EqualsIgnoreCase(l[..15], "content-length:"u8))
            {
                if (!Utf8Parser.TryParse(l[15..].Trim((byte)' '), out length, out _)) throw new IOException("bad Content-Length");
            }
        }
        if (length < 0) throw new IOException("no Content-Length (chunked answers are not expected here)");
        return (status, length);
    }

    /// <summary>Drops the connection (after an error), so the next request starts clean.</summary>
    public void Reset()
    {
        _socket?.Dispose();
        _socket = null;
    }

    public void Dispose() => Reset();
}
