using System.Runtime.InteropServices;

namespace BlobCache.Fuse.Native;

/// <summary>The few libc calls around the FUSE session: waiting for and waking the receive threads, freeing libfuse's buffers, clearing a dead mount.</summary>
internal static unsafe partial class Libc
{
    public const int EINTR = 4, EIO = 5, EAGAIN = 11, ENOENT = 2, EISDIR = 21, ENOTDIR = 20, EROFS = 30, EBADF = 9, ENOTCONN = 107;
    public const int O_ACCMODE = 3, O_RDONLY = 0, O_NONBLOCK = 0x800;
    public const int F_GETFL = 3, F_SETFL = 4;
    public const int EFD_CLOEXEC = 0x80000;
    public const int MNT_DETACH = 2;

    [LibraryImport("libc", SetLastError = true)] public static partial int epoll_create1(int flags);
    [LibraryImport("libc", SetLastError = true)] public static partial int epoll_ctl(int epfd, int op, int fd, byte* ev);
    [LibraryImport("libc", SetLastError = true)] public static partial int epoll_wait(int epfd, byte* events, int max, int timeoutMs);

    public const int EPOLL_CLOEXEC = 0x80000, EPOLL_CTL_ADD = 1;
    public const uint EPOLLIN = 1, EPOLLEXCLUSIVE = 1u << 28;

    /// <summary>
    /// Bytes of one <c>struct epoll_event</c> on every layout (12 packed on x86-64, 16 on arm64). The events word
    /// leads both; the data word is left 0, since a waiter only needs to know that something is ready.
    /// </summary>
    public const int EpollEventBytes = 16;
    [LibraryImport("libc", SetLastError = true)] public static partial int eventfd(uint initial, int flags);
    [LibraryImport("libc", SetLastError = true)] public static partial nint write(int fd, void* buffer, nint length);
    [LibraryImport("libc", SetLastError = true)] public static partial int close(int fd);
    [LibraryImport("libc", SetLastError = true)] public static partial int fcntl(int fd, int command, int argument);
    [LibraryImport("libc")] public static partial void free(void* pointer);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] public static partial int umount2(string target, int flags);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] public static partial int statfs(string path, byte* buffer);

    /// <summary>Bytes enough for <c>struct statfs</c> on every 64-bit Linux (120 on x86-64 and arm64).</summary>
    public const int StatfsSize = 256;

    public static int LastError => Marshal.GetLastPInvokeError();

    public static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
}
