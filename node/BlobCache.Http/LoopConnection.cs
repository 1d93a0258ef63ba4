using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text;
using System.Threading.Tasks.Sources;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Logging;

namespace BlobCache.Http;

/// <summary>
/// One client connection, the socket's side: who owns it (its loop thread, or a request running), reading request
/// heads and bodies off the socket, handing each whole request to its <see cref="LoopExchange"/> (the HTTP features
/// the application sees), sending what the exchange writes, and closing. Requests on one connection run one at a
/// time; what a client sends ahead stays buffered until the response before it is done. The receive buffer is
/// rented when bytes arrive and given back whenever nothing is buffered, so an idle connection holds only its
/// descriptor. See docs/http-server.md.
/// </summary>
internal sealed partial class LoopConnection : IValueTaskSource
{
    // A request head is well under a kilobyte; the buffer grows for a longer one (or many pipelined), up to the head limit.
    private const int InitialBuffer = 4 * 1024, MaxBuffer = RequestHead.MaxHeadBytes + 16 * 1024;
    private const int Armed = 0, Busy = 1, Closed = 2;

    private readonly LoopServer _server;
    private readonly EventLoop _loop;
    private readonly int _fd;
    private readonly long _id;
    private readonly RequestHead _head = new();
    private readonly ChunkedBody _chunked = new();
    private readonly RequestBody _body = new();
    private readonly LoopExchange _exchange;
    private readonly bool _reserved;
    private byte[] _in = [];
    private int _inStart, _inEnd;
    private int _state = Busy;
    private bool _readingBody;
    private bool _peerClosed;
    private long _bodyLeft;
    private int _bodyReserved; // of the server's body budget
    private long _lastActivity = Environment.TickCount64;
    private long _receiveStarted; // when the request now arriving began to (0: none is); a new connection's is its accept

    /// <param name="reserved">Admitted into the probes' reserve: one request, to a reserved path only.</param>
    public LoopConnection(LoopServer server, EventLoop loop, int fd, IPEndPoint? remote, bool reserved = false)
    {
        _server = server;
        _reserved = reserved;
        _receiveStarted = _lastActivity;
        _loop = loop;
        _loop.Adopted();
        _fd = fd;
        _id = server.Opened(this);
        ConnectionId = _id.ToString("X", CultureInfo.InvariantCulture);
        _exchange = new LoopExchange(this, server, _head, _body, ConnectionId, remote);
    }

    /// <summary>The connection's id in log lines and request ids (Kestrel's shape).</summary>
    public string ConnectionId { get; }

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
        if (_in.Length == 0) _in = ArrayPool<byte>.Shared.Rent(InitialBuffer);
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
                    ReturnBuffer();
                    Arm(Native.EPOLLIN);
                    return;
                }
                HeadStatus status = _head.Parse(input, out int consumed);
                if (status == HeadStatus.Incomplete)
                {
                    AwaitMoreOfRequest();
                    return;
                }
                if (status == HeadStatus.Invalid)
                {
                    RefuseAndClose(_head.ErrorStatus, _head.Error, Refusal.Malformed);
                    return;
                }
                _inStart += consumed;
                if (!StartBody()) return;
            }
            if (_readingBody)
            {
                ReadOnlySpan<byte> input = _in.AsSpan(_inStart, _inEnd - _inStart);
                if (_head.Chunked)
                {
                    BodyStatus b = _chunked.Decode(input, _body, _server.MaxRequestBodyBytes, out int used);
                    _inStart += used;
                    if (b == BodyStatus.Invalid) { RefuseAndClose(400, "malformed chunked body", Refusal.Malformed); return; }
                    if (b == BodyStatus.TooLarge) { RefuseAndClose(413, $"request body larger than {_server.MaxRequestBodyBytes} bytes", Refusal.Malformed); return; }
                    if (b == BodyStatus.NeedMore) { AwaitMoreOfRequest(); return; }
                }
                else
                {
                    int take = (int)Math.Min(_bodyLeft, input.Length);
                    _body.Append(input[..take]);
                    _inStart += take;
                    _bodyLeft -= take;
                    if (_bodyLeft > 0) { AwaitMoreOfRequest(); return; }
                }
                _readingBody = false;
            }
            _receiveStarted = 0; // the request is here whole: its handler's time is not the client's
            if (_inStart == _inEnd) _inStart = _inEnd = 0;
            _headLength = 0;
            // A stopping server, a client done sending, or a slot in the probes' reserve (freed at once): answer, then close.
            ValueTask request = _exchange.RunAsync(mayKeepAlive: !_server.Stopping && !_peerClosed && !_reserved);
            if (!request.IsCompleted)
            {
                _ = ContinueAfter(request);
                return;
            }
            request.GetAwaiter().GetResult();
            if (Volatile.Read(ref _state) == Closed) return;
        }
    }

    /// <summary>
    /// After a head: refuses what the server will not take, and readies the body. A GET or HEAD has no use for a
    /// body, so one is read past and dropped; any other is kept within the server's budget. False when refused.
    /// </summary>
    private bool StartBody()
    {
        long length = _head.ContentLength; // -1: chunked
        if (length > _server.MaxRequestBodyBytes)
        {
            RefuseAndClose(413, $"request body larger than {_server.MaxRequestBodyBytes} bytes", Refusal.Malformed);
            return false;
        }
        if (_reserved && !_server.IsReservedPath(_head.RawTarget))
        {
            RefuseAndClose(503, "the server is at its connection limit: only probes are answered on a new connection", Refusal.NotAProbe);
            return false;
        }
        _readingBody = _head.Chunked || length > 0;
        _bodyLeft = length;
        bool discard = _head.Method is "GET" or "HEAD";
        _body.Start(_head.Chunked ? 0 : (int)Math.Max(0, length), discard);
        if (!_readingBody) return true;
        int budget = discard ? 0 : _head.Chunked ? _server.MaxRequestBodyBytes : (int)length;
        if (budget > 0 && !_server.TryReserveBody(budget))
        {
            _readingBody = false;
            RefuseAndClose(503, "too many request bodies arriving at once; try again", Refusal.BodyMemory);
            return false;
        }
        _bodyReserved = budget;
        if (_head.Chunked) _chunked.Reset();
        if (_head.ExpectContinue && _inStart == _inEnd && !SendSmall("HTTP/1.1 100 Continue\r\n\r\n"u8))
        {
            Close();
            return false;
        }
        return true;
    }

    /// <summary>Part of a request is here: waits for the rest, within the receive deadline counted from its first part.</summary>
    private void AwaitMoreOfRequest()
    {
        if (_receiveStarted == 0) _receiveStarted = Environment.TickCount64;
        Arm(Native.EPOLLIN);
    }

    /// <summary>The exchange is done with its request: the body goes, and the connection closes unless it may carry another.</summary>
    internal void RequestEnded(bool close)
    {
        ReleaseBody();
        if (close) Close();
    }

    /// <summary>The application aborted its request: the socket is failed and taken out of the loop.</summary>
    internal void AbortFromApplication()
    {
        Fail();
        Native.EpollControl(_loop.Epoll, Native.EPOLL_CTL_DEL, _fd, 0, 0);
    }

    /// <summary>Lets go of the request body and its share of the server's budget.</summary>
    private void ReleaseBody()
    {
        _body.Clear();
        if (_bodyReserved > 0) _server.ReleaseBody(_bodyReserved);
        _bodyReserved = 0;
    }

    private void ReturnBuffer()
    {
        if (_in.Length == 0) return;
        ArrayPool<byte>.Shared.Return(_in);
        _in = [];
        _inStart = _inEnd = 0;
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

    /// <summary>Closes the connection if no request holds it (a stopping server, the sweep, shedding); false if one does.</summary>
    public bool CloseIfIdle()
    {
        if (Interlocked.CompareExchange(ref _state, Closed, Armed) != Armed) return false;
        Release();
        if (_writePending)
        {
            // A response waiting for the socket: its handler gets an error instead of waiting forever.
            _writePending = false;
            Fail();
            _writeDone.SetException(new IOException("the server stopped"));
        }
        return true;
    }

    /// <summary>
    /// Closes the connection if it has waited longer than <paramref name="idleLimit"/> between requests, or
    /// <paramref name="stallLimit"/> in a half-sent head or body, or for a client to take any of a response, or if a
    /// request has taken longer than <paramref name="receiveLimit"/> to arrive. True only for the last.
    /// </summary>
    public bool CloseIfStale(long now, long idleLimit, long stallLimit, long receiveLimit)
    {
        if (Volatile.Read(ref _state) != Armed) return false;
        long started = Volatile.Read(ref _receiveStarted);
        if (!_writePending && started != 0 && now - started > receiveLimit) return CloseIfIdle();
        long waited = now - Volatile.Read(ref _lastActivity);
        if (waited > (_writePending || _inEnd > _inStart || _readingBody ? stallLimit : idleLimit)) CloseIfIdle();
        return false;
    }

    /// <summary>
    /// How long an armed connection has waited for its client: since its last response when idle, since the first
    /// byte of a request still arriving. -1 when it is not waiting for its client (a request runs, or a response
    /// waits for the socket), so it is not one to shed.
    /// </summary>
    public long WaitingFor(long now)
    {
        if (Volatile.Read(ref _state) != Armed || _writePending) return -1;
        long started = Volatile.Read(ref _receiveStarted);
        return now - (started != 0 ? started : Volatile.Read(ref _lastActivity));
    }

    /// <summary>Called when a stopping server runs out of time: cancels the request still holding the connection.</summary>
    public void Abort()
    {
        _exchange.CancelRequest();
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
        ReturnBuffer();
        // A body still arriving is no handler's yet; one a handler holds goes when its request ends.
        if (_readingBody) ReleaseBody();
        _loop.Released();
        _server.Closed(_id);
    }

    /// <summary>A server-made error for a request the application never saw, then the connection closes.</summary>
    private void RefuseAndClose(int status, string reason, Refusal counted)
    {
        _server.Count(counted);
        _server.Log.LogDebug("http: refused a request on connection {Id}: {Status} {Reason}", ConnectionId, status, reason);
        ErrorAnswer answer = _server.Errors(status, reason, _exchange.RequestId(_exchange.Requests + 1));
        var head = new StringBuilder(256);
        head.Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {status} {ReasonPhrases.GetReasonPhrase(status)}\r\n");
        head.Append(CultureInfo.InvariantCulture, $"Content-Type: {answer.ContentType}\r\nContent-Length: {answer.Body.Length}\r\n");
        foreach (KeyValuePair<string, string> h in answer.Headers) head.Append(h.Key).Append(": ").Append(h.Value).Append("\r\n");
        head.Append(Encoding.Latin1.GetString(_server.Clock.Line)).Append("Connection: close\r\n\r\n");
        byte[] bytes = [.. Encoding.Latin1.GetBytes(head.ToString()), .. answer.Body];
        SendSmall(bytes);
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
