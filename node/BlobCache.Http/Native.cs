using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace BlobCache.Http;

/// <summary>The Linux socket and epoll calls the event loops make (x86-64 and arm64 layouts).</summary>
internal static unsafe partial class Native
{
    public const int AF_INET = 2, AF_INET6 = 10, SOCK_STREAM = 1, SOCK_NONBLOCK = 0x800, SOCK_CLOEXEC = 0x80000;
    public const int SOL_SOCKET = 1, SO_REUSEADDR = 2, SO_REUSEPORT = 15, IPPROTO_TCP = 6, TCP_NODELAY = 1;
    public const int IPPROTO_IPV6 = 41, IPV6_V6ONLY = 26;
    public const int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;
    public const uint EPOLLIN = 1, EPOLLOUT = 4, EPOLLERR = 8, EPOLLHUP = 0x10, EPOLLRDHUP = 0x2000, EPOLLONESHOT = 1u << 30;
    public const int EAGAIN = 11, EINTR = 4, EMFILE = 24, ENFILE = 23;
    public const int MSG_NOSIGNAL = 0x4000, MSG_DONTWAIT = 0x40;
    public const int EFD_NONBLOCK = 0x800, EFD_CLOEXEC = 0x80000;
    public const int PROT_READ = 1, PROT_WRITE = 2, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20;

    // x86-64 packs epoll_event to 12 bytes; arm64 keeps natural alignment (16).
    [StructLayout(LayoutKind.Sequential, Pack = 1)]
    public struct EpollEventPacked { public uint Events; public ulong Data; }

    [StructLayout(LayoutKind.Sequential)]
    public struct EpollEventAligned { public uint Events; public ulong Data; }

    public static readonly bool PackedEvents = RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.X86;
    public static int EventSize => PackedEvents ? sizeof(EpollEventPacked) : sizeof(EpollEventAligned);

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec { public byte* Base; public nint Length; }

    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [LibraryImport("libc", SetLastError = true)] public static partial int socket(int domain, int type, int protocol);
    [LibraryImport("libc", SetLastError = true)] public static partial int setsockopt(int fd, int level, int name, int* value, int length);
    [LibraryImport("libc", SetLastError = true)] public static partial int bind(int fd, byte* addr, int length);
    [LibraryImport("libc", SetLastError = true)] public static partial int listen(int fd, int backlog);
    [LibraryImport("libc", SetLastError = true)] public static partial int accept4(int fd, byte* addr, int* length, int flags);
    [LibraryImport("libc", SetLastError = true)] public static partial int getsockname(int fd, byte* addr, int* length);
    [LibraryImport("libc", SetLastError = true)] public static partial int epoll_create1(int flags);
    [LibraryImport("libc", SetLastError = true)] private static partial int epoll_ctl(int epfd, int op, int fd, void* ev);
    [LibraryImport("libc", SetLastError = true)] public static partial int epoll_wait(int epfd, void* events, int max, int timeout);
    [LibraryImport("libc", SetLastError = true)] public static partial nint recv(int fd, byte* buffer, nint length, int flags);
    [LibraryImport("libc", SetLastError = true)] public static partial nint sendmsg(int fd, MsgHdr* message, int flags);
    [LibraryImport("libc", SetLastError = true)] public static partial int close(int fd);
    [LibraryImport("libc", SetLastError = true)] public static partial int eventfd(uint initial, int flags);
    [LibraryImport("libc", SetLastError = true)] public static partial nint write(int fd, void* buffer, nint length);
    [LibraryImport("libc", SetLastError = true)] public static partial nint read(int fd, void* buffer, nint length);
    [LibraryImport("libc", SetLastError = true)] public static partial void* mmap(void* address, nuint length, int protection, int flags, int fd, nint offset);
    [LibraryImport("libc", SetLastError = true)] public static partial int munmap(void* address, nuint length);

    public static int EpollControl(int epfd, int op, int fd, uint events, ulong data)
    {
        if (PackedEvents)
        {
            var ev = new EpollEventPacked { Events = events, Data = data };
            return epoll_ctl(epfd, op, fd, &ev);
        }
        var aligned = new EpollEventAligned { Events = events, Data = data };
        return epoll_ctl(epfd, op, fd, &aligned);
    }

    public static (uint Events, ulong Data) EventAt(byte* events, int index)
    {
        if (PackedEvents)
        {
            EpollEventPacked e = ((EpollEventPacked*)events)[index];
            return (e.Events, e.Data);
        }
        EpollEventAligned a = ((EpollEventAligned*)events)[index];
        return (a.Events, a.Data);
    }

    /// <summary>A sockaddr_in or sockaddr_in6 for <paramref name="ip"/>:<paramref name="port"/>; returns its length.</summary>
    public static int SocketAddress(IPAddress ip, int port, Span<byte> into)
    {
        into.Clear();
        into[2] = (byte)(port >> 8);
        into[3] = (byte)port;
        if (ip.AddressFamily == AddressFamily.InterNetwork)
        {
            BitConverter.TryWriteBytes(into, (ushort)AF_INET);
            ip.TryWriteBytes(into[4..8], out _);
            return 16;
        }
        BitConverter.TryWriteBytes(into, (ushort)AF_INET6);
        ip.TryWriteBytes(into[8..24], out _);
        BitConverter.TryWriteBytes(into[24..28], (uint)ip.ScopeId);
        return 28;
    }

    /// <summary>Reads an address written by the kernel (accept4, getsockname).</summary>
    public static IPEndPoint? ReadAddress(ReadOnlySpan<byte> addr)
    {
        int family = BitConverter.ToUInt16(addr);
        int port = addr[2] << 8 | addr[3];
        if (family == AF_INET) return new IPEndPoint(new IPAddress(addr[4..8]), port);
        if (family == AF_INET6) return new IPEndPoint(new IPAddress(addr[8..24], BitConverter.ToUInt32(addr[24..28])), port);
        return null;
    }

    public static int LastError => Marshal.GetLastPInvokeError();

    public static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
}
