using System.Threading.Tasks.Sources;

namespace BlobCache.Http;

// The socket's sending side: the pending response head and up to three segments the exchange hands over go out in
// one gathered sendmsg, or wait for EPOLLOUT.
internal sealed partial class LoopConnection
{
    private byte[] _out = []; // response heads and chunk framing, pinned; made with the first response
    private int _headLength; // response head in _out, not yet sent
    private bool _failed;
    private ReadOnlyMemory<byte> _seg0, _seg1, _seg2;
    private bool _writePending;
    private ManualResetValueTaskSourceCore<bool> _writeDone; // completed on the loop thread, continuations inline

    /// <summary>Where the exchange writes a response head; it goes out before the next bytes sent.</summary>
    internal Span<byte> HeadSpace => _out;

    internal void GrowHeadSpace() => _out = GC.AllocateUninitializedArray<byte>(Math.Max(4096, _out.Length * 2), pinned: true);

    internal void QueueHead(int length) => _headLength = length;

    internal bool HeadPending => _headLength > 0;

    /// <summary>The socket failed, or the request was aborted: nothing more is sent, and the connection closes after the request.</summary>
    internal bool Failed => _failed;

    /// <summary>Sends the pending head and <paramref name="a"/>, <paramref name="b"/>, <paramref name="c"/>, waiting for the socket if it is full.</summary>
    internal ValueTask SendAsync(ReadOnlyMemory<byte> a, ReadOnlyMemory<byte> b, ReadOnlyMemory<byte> c)
    {
        _seg0 = a;
        _seg1 = b;
        _seg2 = c;
        if (TrySend()) return _failed ? ValueTask.FromException(new IOException("the client connection is gone")) : default;
        _writeDone.Reset();
        _writePending = true;
        // A client that takes nothing for the stall limit is dropped (the sweep counts from this re-arm).
        if (!Rearm(Native.EPOLLOUT) && Interlocked.CompareExchange(ref _state, Busy, Armed) == Armed)
        {
            // The loop is gone (the server stopped): fail the write, and the request with it.
            _writePending = false;
            Fail();
            return ValueTask.FromException(new IOException("the server is stopping"));
        }
        // (Closed meanwhile by a stopping server or the stall sweep: that completed the write with an error.)
        return new ValueTask(this, _writeDone.Version);
    }

    private void ContinueWrite()
    {
        if (!TrySend())
        {
            // Progress: the stall clock starts again. If the loop is gone, the stopping server closes the connection
            // and fails the write (CloseIfIdle), as for any armed connection.
            _ = Rearm(Native.EPOLLOUT);
            return;
        }
        _writePending = false;
        if (_failed) _writeDone.SetException(new IOException("the client connection is gone"));
        else _writeDone.SetResult(true);
    }

    /// <summary>Sends as much as the socket takes; true when all is sent (or the connection failed).</summary>
    private unsafe bool TrySend()
    {
        Native.IoVec* iov = stackalloc Native.IoVec[4];
        while (true)
        {
            if (Volatile.Read(ref _state) == Closed)
            {
                Fail(); // closed under us (a stopping server): its descriptor may already belong to another socket
                return true;
            }
            int n = 0;
            using System.Buffers.MemoryHandle p1 = _seg0.Pin(), p2 = _seg1.Pin(), p3 = _seg2.Pin();
            fixed (byte* head = _out)
            {
                if (_headLength > 0) iov[n++] = new Native.IoVec { Base = head, Length = _headLength };
                if (!_seg0.IsEmpty) iov[n++] = new Native.IoVec { Base = (byte*)p1.Pointer, Length = _seg0.Length };
                if (!_seg1.IsEmpty) iov[n++] = new Native.IoVec { Base = (byte*)p2.Pointer, Length = _seg1.Length };
                if (!_seg2.IsEmpty) iov[n++] = new Native.IoVec { Base = (byte*)p3.Pointer, Length = _seg2.Length };
                if (n == 0) return true;
                var msg = new Native.MsgHdr { Iov = iov, IovLength = (nuint)n };
                nint sent = Native.sendmsg(_fd, &msg, Native.MSG_NOSIGNAL | Native.MSG_DONTWAIT);
                if (sent < 0)
                {
                    int errno = Native.LastError;
                    if (errno == Native.EAGAIN) return false;
                    if (errno == Native.EINTR) continue;
                    Fail();
                    return true;
                }
                long left = sent;
                if (_headLength > 0)
                {
                    int fromHead = (int)Math.Min(left, _headLength);
                    if (fromHead < _headLength) Buffer.BlockCopy(_out, fromHead, _out, 0, _headLength - fromHead);
                    _headLength -= fromHead;
                    left -= fromHead;
                }
                Advance(ref _seg0, ref left);
                Advance(ref _seg1, ref left);
                Advance(ref _seg2, ref left);
            }
        }
    }

    private static void Advance(ref ReadOnlyMemory<byte> segment, ref long left)
    {
        int take = (int)Math.Min(left, segment.Length);
        segment = segment[take..];
        left -= take;
    }

    private void Fail()
    {
        _failed = true;
        _seg0 = _seg1 = _seg2 = default;
        _headLength = 0;
        _exchange.ConnectionFailed();
    }

    void IValueTaskSource.GetResult(short token) => _writeDone.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _writeDone.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _writeDone.OnCompleted(continuation, state, token, flags);
}
