using System.Net;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace BlobCache.Http;

/// <summary>
/// One event-loop thread: its own listening socket on the shared port (SO_REUSEPORT, so accepts run on every loop)
/// and its own epoll set. A connection accepted here goes to the loop with the fewest connections, not to this
/// one: the kernel spreads connections by a hash of their addresses, which with a handful of busy keep-alive
/// connections often leaves one core serving six of eight while the other idles. Connections are armed one-shot:
/// an event hands a connection to whoever handles it (its loop's thread, or the thread a request's handler
/// finishes on) until it is armed again, so a connection is never touched by two threads at once.
/// </summary>
internal sealed unsafe class EventLoop
{
    private const ulong ListenerTag = 0, WakeTag = 1;
    private const int MaxEvents = 256;
    private readonly LoopServer _server;
    private readonly int _listener;
    private readonly int _wake;
    private readonly Thread _thread;
    private readonly ILogger _log;
    private long _acceptPausedUntil;
    private bool _acceptErrorLogged;

    private int _connections;

    public int Epoll { get; }

    /// <summary>Connections this loop watches now.</summary>
    public int Connections => Volatile.Read(ref _connections);

    public void Adopted() => Interlocked.Increment(ref _connections);

    public void Released() => Interlocked.Decrement(ref _connections);

    public EventLoop(LoopServer server, IPEndPoint endPoint, int index, ILogger log)
    {
        _server = server;
        _log = log;
        _listener = Listen(endPoint);
        Epoll = Native.epoll_create1(Native.SOCK_CLOEXEC);
        _wake = Native.eventfd(0, Native.EFD_NONBLOCK | Native.EFD_CLOEXEC);
        if (Epoll < 0 || _wake < 0) throw new IOException($"epoll: {Native.Describe(Native.LastError)}");
        Native.EpollControl(Epoll, Native.EPOLL_CTL_ADD, _listener, Native.EPOLLIN, ListenerTag);
        Native.EpollControl(Epoll, Native.EPOLL_CTL_ADD, _wake, Native.EPOLLIN, WakeTag);
        _thread = new Thread(Run) { IsBackground = true, Name = $"http loop {index}" };
    }

    public void Start() => _thread.Start();

    /// <summary>Wakes the loop so it sees the server stopping, and waits for it to end.</summary>
    public void Stop(TimeSpan wait)
    {
        ulong one = 1;
        Native.write(_wake, &one, 8);
        if (_thread.IsAlive) _thread.Join(wait);
        Native.close(_listener);
        Native.close(_wake);
        Native.close(Epoll);
    }

    /// <summary>
    /// Fails as Kestrel would when another process has the port. The loops' listeners share the port through
    /// SO_REUSEPORT, which would also let a second node (same user) bind it and silently take half the connections:
    /// a plain bind first, closed at once, finds any listener there, reuse-port or not.
    /// </summary>
    public static void EnsurePortFree(IPEndPoint endPoint) => Native.close(Bind(endPoint, reusePort: false, listen: false));

    private static int Listen(IPEndPoint endPoint) => Bind(endPoint, reusePort: true, listen: true);

    /// <summary>A bound socket (non-blocking, and listening when asked); throws IOException naming the address.</summary>
    private static int Bind(IPEndPoint endPoint, bool reusePort, bool listen)
    {
        int family = endPoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? Native.AF_INET : Native.AF_INET6;
        int fd = Native.socket(family, Native.SOCK_STREAM | Native.SOCK_NONBLOCK | Native.SOCK_CLOEXEC, 0);
        if (fd < 0) throw new IOException($"socket: {Native.Describe(Native.LastError)}");
        int one = 1, zero = 0;
        Native.setsockopt(fd, Native.SOL_SOCKET, Native.SO_REUSEADDR, &one, 4); // TIME_WAIT leftovers do not count
        if (reusePort) Native.setsockopt(fd, Native.SOL_SOCKET, Native.SO_REUSEPORT, &one, 4);
        // "::" takes IPv4 too, as Kestrel's does.
        if (family == Native.AF_INET6 && endPoint.Address.Equals(IPAddress.IPv6Any)) Native.setsockopt(fd, Native.IPPROTO_IPV6, Native.IPV6_V6ONLY, &zero, 4);
        Span<byte> addr = stackalloc byte[28];
        int length = Native.SocketAddress(endPoint.Address, endPoint.Port, addr);
        fixed (byte* a = addr)
        {
            if (Native.bind(fd, a, length) != 0 || (listen && Native.listen(fd, 1024) != 0))
            {
                int errno = Native.LastError;
                Native.close(fd);
                throw new IOException($"cannot listen on {endPoint}: {Native.Describe(errno)}");
            }
        }
        return fd;
    }

    /// <summary>The port the kernel gave a listener bound to port 0.</summary>
    public int BoundPort()
    {
        Span<byte> addr = stackalloc byte[28];
        int length = 28;
        fixed (byte* a = addr)
        {
            if (Native.getsockname(_listener, a, &length) != 0) return 0;
        }
        return Native.ReadAddress(addr)?.Port ?? 0;
    }

    private void Run()
    {
        byte* events = (byte*)NativeMemory.Alloc(MaxEvents, (nuint)Native.EventSize);
        try
        {
            while (!_server.Stopping)
            {
                int timeout = -1;
                if (_acceptPausedUntil != 0)
                {
                    long left = _acceptPausedUntil - Environment.TickCount64;
                    if (left <= 0)
                    {
                        _acceptPausedUntil = 0;
                        Native.EpollControl(Epoll, Native.EPOLL_CTL_ADD, _listener, Native.EPOLLIN, ListenerTag);
                    }
                    else
                    {
                        timeout = (int)left;
                    }
                }
                int n = Native.epoll_wait(Epoll, events, MaxEvents, timeout);
                if (n < 0)
                {
                    int errno = Native.LastError;
                    if (errno == Native.EINTR) continue;
                    _log.LogError("http loop stopped: epoll_wait {Error}", Native.Describe(errno));
                    return;
                }
                for (int i = 0; i < n; i++)
                {
                    (uint flags, ulong data) = Native.EventAt(events, i);
                    if (data == ListenerTag) Accept();
                    else if (data == WakeTag) continue;
                    // By id, not by reference: a connection another thread closed meanwhile is simply not found.
                    else if (_server.TryGetConnection((long)data, out LoopConnection? connection)) connection.OnEvent(flags);
                }
            }
        }
        finally
        {
            NativeMemory.Free(events);
        }
    }

    private void Accept()
    {
        Span<byte> addr = stackalloc byte[28];
        while (true)
        {
            int length = 28;
            int fd;
            fixed (byte* a = addr) fd = Native.accept4(_listener, a, &length, Native.SOCK_NONBLOCK | Native.SOCK_CLOEXEC);
            if (fd < 0)
            {
                int errno = Native.LastError;
                if (errno == Native.EAGAIN) return;
                if (errno == Native.EINTR) continue;
                if (errno is Native.EMFILE or Native.ENFILE)
                {
                    // Out of descriptors: stop accepting for a moment instead of spinning on a listener that stays ready.
                    if (!_acceptErrorLogged) _log.LogWarning("http: cannot accept connections: {Error}; pausing accepts for 100 ms", Native.Describe(errno));
                    _acceptErrorLogged = true;
                    Native.EpollControl(Epoll, Native.EPOLL_CTL_DEL, _listener, 0, 0);
                    _acceptPausedUntil = Environment.TickCount64 + 100;
                }
                return;
            }
            _acceptErrorLogged = false;
            LoopServer.Admission admission = _server.Admit();
            if (admission == LoopServer.Admission.Refused)
            {
                Native.close(fd); // over the connection limit, and nothing to shed
                continue;
            }
            int one = 1;
            Native.setsockopt(fd, Native.IPPROTO_TCP, Native.TCP_NODELAY, &one, 4);
            var connection = new LoopConnection(_server, _server.LeastBusyLoop(this), fd, Native.ReadAddress(addr[..length]),
                reserved: admission == LoopServer.Admission.Reserved);
            connection.Register();
        }
    }
}
