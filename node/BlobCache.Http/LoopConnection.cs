using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text;
using System.Threading.Tasks.Sources;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Logging;

namespace BlobCache.Http;

/// <summary>
/// One client connection: reads request heads and bodies, runs each request through the application (it is its own
/// feature collection, as Kestrel's connections are), and writes the response straight to the socket. Requests on
/// one connection run one at a time; what a client sends ahead stays buffered until the response before it is done.
/// </summary>
internal sealed partial class LoopConnection : IFeatureCollection, IValueTaskSource,
    IHttpRequestFeature, IHttpResponseFeature, IHttpResponseBodyFeature, IHttpConnectionFeature,
    IHttpRequestLifetimeFeature, IHttpRequestIdentifierFeature, IHttpBodyControlFeature, IHttpRequestBodyDetectionFeature
{
    private const int InitialBuffer = 16 * 1024, MaxBuffer = RequestHead.MaxHeadBytes + 16 * 1024;
    private const int Armed = 0, Busy = 1, Closed = 2;

    private readonly LoopServer _server;
    private readonly EventLoop _loop;
    private readonly int _fd;
    private readonly long _id;
    private readonly RequestHead _head = new();
    private readonly ChunkedBody _chunked = new();
    private readonly List<byte> _body = [];
    private readonly ResponseStream _responseStream;
    private byte[] _in = ArrayPool<byte>.Shared.Rent(InitialBuffer);
    private int _inStart, _inEnd;
    private byte[] _out = GC.AllocateUninitializedArray<byte>(4096, pinned: true); // response heads and chunk framing
    private int _state = Busy;
    private bool _readingBody;
    private bool _peerClosed;
    private long _bodyLeft;
    private int _requests;
    private long _lastActivity = Environment.TickCount64;

    public LoopConnection(LoopServer server, EventLoop loop, int fd, IPEndPoint? remote)
    {
        _server = server;
        _loop = loop;
        _loop.Adopted();
        _fd = fd;
        _id = server.Opened(this);
        _responseStream = new ResponseStream(this);
        RemoteIpAddress = remote?.Address;
        RemotePort = remote?.Port ?? 0;
        LocalIpAddress = null;
        LocalPort = server.Port;
        ConnectionId = _id.ToString("X", CultureInfo.InvariantCulture);
    }

    public void Register()
    {
        Volatile.Write(ref _state, Armed);
        if (Native.EpollControl(_loop.Epoll, Native.EPOLL_CTL_ADD, _fd, Native.EPOLLIN | Native.EPOLLRDHUP | Native.EPOLLONESHOT, (ulong)_id) != 0)
        {
            if (Interlocked.CompareExchange(ref _state, Closed, Armed) == Armed) Release();
        }
    }

    // ---- the loop's side ----

    /// <summary>An armed connection's event: it now belongs to this thread until armed again.</summary>
    public void OnEvent(uint events)
    {
        if (Interlocked.CompareExchange(ref _state, Busy, Armed) != Armed) return;
        Volatile.Write(ref _lastActivity, Environment.TickCount64);
        try
        {
            if (_writePending)
            {
                ContinueWrite();
                return;
            }
            if (!ReceiveAvailable()) return;
            ProcessInput();
        }
        catch (Exception e)
        {
            _server.Log.LogError(e, "http: connection {Id} failed", ConnectionId);
            Close();
        }
    }

    /// <summary>Reads what has arrived; false when the connection ended (and was closed).</summary>
    private unsafe bool ReceiveAvailable()
    {
        while (true)
        {
            if (_inEnd == _in.Length && !MakeRoom()) return true; // full: parse what is there (too long a head is refused)
            nint got;
            fixed (byte* p = _in) got = Native.recv(_fd, p + _inEnd, _in.Length - _inEnd, Native.MSG_DONTWAIT);
            if (got > 0)
            {
                _inEnd += (int)got;
                continue;
            }
            if (got == 0)
            {
                // The client is done sending. What it sent before still gets its answers (a client that half-closes
                // after its request reads them), then the connection closes; with nothing pending it closes now.
                if (_inEnd > _inStart || _readingBody)
                {
                    _peerClosed = true;
                    return true;
                }
                Close();
                return false;
            }
            int errno = Native.LastError;
            if (errno == Native.EAGAIN) return true;
            if (errno == Native.EINTR) continue;
            Close();
            return false;
        }
    }

    private bool MakeRoom()
    {
        if (_inStart > 0)
        {
            Buffer.BlockCopy(_in, _inStart, _in, 0, _inEnd - _inStart);
            _inEnd -= _inStart;
            _inStart = 0;
            return true;
        }
        if (_in.Length >= MaxBuffer) return false;
        byte[] bigger = ArrayPool<byte>.Shared.Rent(Math.Min(MaxBuffer, _in.Length * 2));
        Buffer.BlockCopy(_in, 0, bigger, 0, _inEnd);
        ArrayPool<byte>.Shared.Return(_in);
        _in = bigger;
        return true;
    }

    /// <summary>Answers every complete request buffered, then re-arms for more (or closes).</summary>
    private void ProcessInput()
    {
        while (true)
        {
            if (!_readingBody)
            {
                ReadOnlySpan<byte> input = _in.AsSpan(_inStart, _inEnd - _inStart);
                if (input.IsEmpty)
                {
                    Arm(Native.EPOLLIN);
                    return;
                }
                HeadStatus status = _head.Parse(input, out int consumed);
                if (status == HeadStatus.Incomplete)
                {
                    Arm(Native.EPOLLIN);
                    return;
                }
                if (status == HeadStatus.Invalid)
                {
                    RefuseAndClose(_head.ErrorStatus, _head.Error);
                    return;
                }
                _inStart += consumed;
                if (_head.ContentLength > _server.MaxRequestBodyBytes)
                {
                    RefuseAndClose(413, $"request body larger than {_server.MaxRequestBodyBytes} bytes");
                    return;
                }
                _body.Clear();
                _readingBody = _head.Chunked || _head.ContentLength > 0;
                _bodyLeft = _head.ContentLength;
                if (_head.Chunked) _chunked.Reset();
                if (_readingBody && _head.ExpectContinue && _inStart == _inEnd && !SendSmall("HTTP/1.1 100 Continue\r\n\r\n"u8))
                {
                    Close();
                    return;
                }
            }
            if (_readingBody)
            {
                ReadOnlySpan<byte> input = _in.AsSpan(_inStart, _inEnd - _inStart);
                if (_head.Chunked)
                {
                    BodyStatus b = _chunked.Decode(input, _body, _server.MaxRequestBodyBytes, out int used);
                    _inStart += used;
                    if (b == BodyStatus.Invalid) { RefuseAndClose(400, "malformed chunked body"); return; }
                    if (b == BodyStatus.TooLarge) { RefuseAndClose(413, $"request body larger than {_server.MaxRequestBodyBytes} bytes"); return; }
                    if (b == BodyStatus.NeedMore) { Arm(Native.EPOLLIN); return; }
                }
                else
                {
                    int take = (int)Math.Min(_bodyLeft, input.Length);
                    _body.AddRange(input[..take]);
                    _inStart += take;
                    _bodyLeft -= take;
                    if (_bodyLeft > 0) { Arm(Native.EPOLLIN); return; }
                }
                _readingBody = false;
            }
            if (_inStart == _inEnd) _inStart = _inEnd = 0;
            ValueTask request = RunRequestAsync();
            if (!request.IsCompleted)
            {
                _ = ContinueAfter(request);
                return;
            }
            request.GetAwaiter().GetResult();
            if (Volatile.Read(ref _state) == Closed) return;
        }
    }

    private async Task ContinueAfter(ValueTask request)
    {
        try
        {
            await request.ConfigureAwait(false);
            if (Volatile.Read(ref _state) == Closed) return;
            // More may have arrived while the handler ran: read it here (the connection is not armed).
            if (ReceiveAvailable()) ProcessInput();
        }
        catch (Exception e)
        {
            _server.Log.LogError(e, "http: connection {Id} failed", ConnectionId);
            Close();
        }
    }

    /// <summary>Hands the connection back to its loop for <paramref name="events"/>.</summary>
    private void Arm(uint events)
    {
        if ((_server.Stopping || _peerClosed) && !_writePending)
        {
            Close();
            return;
        }
        // The idle clock starts now (not when the request began), before the connection can be seen as armed.
        if (!Rearm(events) || (_server.Stopping && !_writePending))
        {
            // The loop is gone (stopping): close it here, unless the stop got to it first.
            if (Interlocked.CompareExchange(ref _state, Closed, Armed) == Armed) Release();
        }
    }

    /// <summary>
    /// Marks the connection armed and asks its loop for the next of <paramref name="events"/>; from then on another
    /// thread may own it. The activity clock restarts first, so the sweep never sees an armed connection's old time.
    /// False when the loop's epoll set is gone (the server stopped).
    /// </summary>
    private bool Rearm(uint events)
    {
        Volatile.Write(ref _lastActivity, Environment.TickCount64);
        Volatile.Write(ref _state, Armed);
        return Native.EpollControl(_loop.Epoll, Native.EPOLL_CTL_MOD, _fd, events | Native.EPOLLRDHUP | Native.EPOLLONESHOT, (ulong)_id) == 0;
    }

    /// <summary>Called by a stopping server: closes the connection if no request holds it.</summary>
    public void CloseIfIdle()
    {
        if (Interlocked.CompareExchange(ref _state, Closed, Armed) != Armed) return;
        Release();
        if (_writePending)
        {
            // A response waiting for the socket: its handler gets an error instead of waiting forever.
            _writePending = false;
            Fail();
            _writeDone.SetException(new IOException("the server stopped"));
        }
    }

    /// <summary>
    /// Closes the connection if it has waited longer than <paramref name="idleLimit"/> between requests, or
    /// <paramref name="stallLimit"/> in a half-sent head or body, or for a client to take any of a response.
    /// </summary>
    public void CloseIfStale(long now, long idleLimit, long stallLimit)
    {
        if (Volatile.Read(ref _state) != Armed) return;
        long waited = now - Volatile.Read(ref _lastActivity);
        if (waited > (_writePending || _inEnd > _inStart || _readingBody ? stallLimit : idleLimit)) CloseIfIdle();
    }

    /// <summary>Called when a stopping server runs out of time: cancels the request still holding the connection.</summary>
    public void Abort()
    {
        try
        {
            _aborted?.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
        Native.EpollControl(_loop.Epoll, Native.EPOLL_CTL_DEL, _fd, 0, 0);
    }

    private void Close()
    {
        if (Interlocked.Exchange(ref _state, Closed) == Closed) return;
        Release();
    }

    private void Release()
    {
        Native.close(_fd);
        ArrayPool<byte>.Shared.Return(_in);
        _in = [];
        _inStart = _inEnd = 0;
        _loop.Released();
        _server.Closed(_id);
    }

    /// <summary>A server-made error for a request the application never saw, then the connection closes.</summary>
    private void RefuseAndClose(int status, string reason)
    {
        _server.CountRefused();
        _server.Log.LogDebug("http: refused a request on connection {Id}: {Status} {Reason}", ConnectionId, status, reason);
        string text = string.Create(CultureInfo.InvariantCulture,
            $"HTTP/1.1 {status} {ReasonPhrases.GetReasonPhrase(status)}\r\nContent-Type: text/plain\r\nContent-Length: {Encoding.UTF8.GetByteCount(reason) + 1}\r\nConnection: close\r\n\r\n{reason}\n");
        SendSmall(Encoding.UTF8.GetBytes(text));
        Close();
    }

    /// <summary>A small write to a connection whose send buffer is empty; false if it could not all go.</summary>
    private unsafe bool SendSmall(ReadOnlySpan<byte> bytes)
    {
        fixed (byte* p = bytes)
        {
            var iov = new Native.IoVec { Base = p, Length = bytes.Length };
            var msg = new Native.MsgHdr { Iov = &iov, IovLength = 1 };
            return Native.sendmsg(_fd, &msg, Native.MSG_NOSIGNAL | Native.MSG_DONTWAIT) == bytes.Length;
        }
    }
}
