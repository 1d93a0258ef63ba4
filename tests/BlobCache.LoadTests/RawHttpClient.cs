using System.Buffers.Text;
using System.Net.Sockets;
using System.Text;

namespace BlobCache.LoadTests;

/// <summary>
/// A minimal HTTP/1.1 keep-alive client for ranged GETs: one socket, a request written from a template, headers
/// parsed for the status and Content-Length, the body read into a reused buffer. It costs about what wrk costs
/// per request, so on a 2-core machine the load generator does not steal the server's CPU and skew the result.
/// </summary>
public sealed class RawHttpClient : IDisposable
{
    private readonly string _host;
    private readonly int _port;
    private readonly byte[] _requestPrefix;
    private readonly byte[] _request = new byte[2048];
    private readonly byte[] _buffer;
    private Socket? _socket;
    private int _start, _end; // unread bytes in _buffer

    public RawHttpClient(Uri url, int bufferBytes)
    {
        _host = url.Host;
        _port = url.Port;
        _requestPrefix = Encoding.ASCII.GetBytes($"GET {url.PathAndQuery} HTTP/1.1\r\nHost: {url.Authority}\r\nRange: bytes=");
        _buffer = new byte[Math.Max(bufferBytes, 64 * 1024)];
    }

    /// <summary>Sends one ranged GET and reads the whole answer; returns the status and body length.</summary>
    public async Task<(int Status, long BodyBytes)> GetRangeAsync(long start, long end, CancellationToken cancellationToken)
    {
        if (_socket is null)
        {
            _socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await _socket.ConnectAsync(_host, _port, cancellationToken).ConfigureAwait(false);
            _start = _end = 0;
        }
        int n = BuildRequest(start, end);
        await _socket.SendAsync(_request.AsMemory(0, n), SocketFlags.None, cancellationToken).ConfigureAwait(false);

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
            int got = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken).ConfigureAwait(false);
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
            int got = await _socket.ReceiveAsync(_buffer.AsMemory(0, (int)Math.Min(_buffer.Length, remaining)), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (got == 0) throw new IOException("connection closed in the body");
            remaining -= got;
        }
        return (status, length);
    }

    private int BuildRequest(long start, long end)
    {
        Span<byte> r = _request;
        _requestPrefix.CopyTo(r);
        int n = _requestPrefix.Length;
        Utf8Formatter.TryFormat(start, r[n..], out int w);
        n += w;
        r[n++] = (byte)'-';
        Utf8Formatter.TryFormat(end, r[n..], out w);
        n += w;
        "\r\n\r\n"u8.CopyTo(r[n..]);
        return n + 4;
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
