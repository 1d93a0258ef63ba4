using System.Runtime.InteropServices;
using BlobCache.Fuse.Native;
using Microsoft.Extensions.Logging;

namespace BlobCache.Fuse;

/// <summary>A mount that could not be made: the message says why, in one line.</summary>
public sealed class FuseMountException(string message) : Exception(message);

/// <summary>How a mount is made.</summary>
/// <param name="FsName">What <c>mount</c> and <c>df</c> show as its source.</param>
/// <param name="ReadAheadBytes">The kernel's read-ahead for the mount (the node's chunk read-ahead).</param>
/// <param name="AllowOther">Let every user read it (the pods beside a DaemonSet's node run as other users).</param>
public sealed record FuseMountSettings(string FsName, uint ReadAheadBytes, bool AllowOther = true)
{
    /// <summary>
    /// Threads receiving requests from the kernel. Each copies the bytes of the reads it answers from memory (those
    /// that wait reply from elsewhere), so copies run in parallel up to one a core; a request wakes one of them.
    /// </summary>
    public int Threads { get; init; } = Math.Clamp(Environment.ProcessorCount, 2, 8);
}

/// <summary>
/// One libfuse session mounted read-only at a directory: a few threads of our own receive the kernel's requests
/// and hand them to the <see cref="ReadOnlyFileSystem"/>. Disposing it stops receiving, lets replies on their way
/// finish (bounded), then unmounts (lazily: files still open elsewhere get ENOTCONN, nobody hangs).
/// </summary>
public sealed unsafe class FuseMount : IDisposable
{
    private static readonly TimeSpan InitDeadline = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan StopDeadline = TimeSpan.FromSeconds(5);
    private readonly ReadOnlyFileSystem _fs;
    private readonly ILogger _log;
    private readonly nint _session;
    private readonly GCHandle _self;
    private readonly int _wake;
    private readonly Thread[] _threads;
    private int _stopped;
    private int _ended;

    private FuseMount(string directory, ReadOnlyFileSystem fs, ILogger log, nint session, GCHandle self, int wake, int threads)
    {
        Directory = directory;
        _fs = fs;
        _log = log;
        _session = session;
        _self = self;
        _wake = wake;
        _threads = new Thread[threads];
        for (int i = 0; i < threads; i++)
        {
            _threads[i] = new Thread(Receive) { IsBackground = true, Name = $"fuse-{i}" };
            _threads[i].Start();
        }
    }

    public string Directory { get; }

    /// <summary>Mounts <paramref name="fs"/> at <paramref name="directory"/>; returns once the kernel has initialised it.</summary>
    public static FuseMount Start(string directory, ReadOnlyFileSystem fs, FuseMountSettings settings, ILogger log)
    {
        string dir = MountTable.Normalize(directory);
        if (!File.Exists("/dev/fuse")) throw new FuseMountException("/dev/fuse is missing: the kernel's FUSE module is not loaded, or the container was not given the device");
        ClearDeadMount(dir, log);
        try
        {
            System.IO.Directory.CreateDirectory(dir); // a volume's subdirectory for each mount need not be made beforehand
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FuseMountException($"{dir} is not a directory that can be made: {e.Message}");
        }
        fs.ReadAheadBytes = settings.ReadAheadBytes;

        string options = "ro,nosuid,nodev,noatime,default_permissions" + (settings.AllowOther ? ",allow_other" : "") +
            $",fsname={settings.FsName.Replace(',', '_')},subtype=blobcache";
        nint[] strings = [Marshal.StringToCoTaskMemUTF8("blobcache"), Marshal.StringToCoTaskMemUTF8("-o"), Marshal.StringToCoTaskMemUTF8(options)];
        nint* ops = stackalloc nint[LibFuse.OpCount];
        ReadOnlyFileSystem.FillOperations(ops);
        GCHandle self = GCHandle.Alloc(fs);
        nint session;
        try
        {
            byte** argv = stackalloc byte*[strings.Length + 1];
            for (int i = 0; i < strings.Length; i++) argv[i] = (byte*)strings[i];
            argv[strings.Length] = null;
            var args = new LibFuse.FuseArgs { Argc = strings.Length, Argv = argv, Allocated = 0 };
            session = LibFuse.fuse_session_new(&args, ops, (nuint)(LibFuse.OpCount * sizeof(nint)), (void*)GCHandle.ToIntPtr(self));
            LibFuse.fuse_opt_free_args(&args); // the copy of argv option parsing may have made (never ours)
        }
        finally
        {
            foreach (nint s in strings) Marshal.FreeCoTaskMem(s);
        }
        if (session == 0)
        {
            self.Free();
            throw new FuseMountException($"libfuse refused the mount options '{options}' (it says why above)");
        }
        if (LibFuse.fuse_session_mount(session, dir) != 0)
        {
            LibFuse.fuse_session_destroy(session);
            self.Free();
            throw new FuseMountException($"cannot mount at {dir} (libfuse says why above; mounting needs root or CAP_SYS_ADMIN, and /dev/fuse)");
        }
        // Non-blocking, so the receive threads wait in epoll, where a stop can wake them.
        int fd = LibFuse.fuse_session_fd(session);
        Libc.fcntl(fd, Libc.F_SETFL, Libc.fcntl(fd, Libc.F_GETFL, 0) | Libc.O_NONBLOCK);
        int wake = Libc.eventfd(0, Libc.EFD_CLOEXEC);
        var mount = new FuseMount(dir, fs, log, session, self, wake, Math.Max(1, settings.Threads));
        if (!fs.Initialized.Wait(InitDeadline))
        {
            mount.Dispose();
            throw new FuseMountException($"the kernel did not initialise the mount at {dir} within {InitDeadline.TotalSeconds:F0} s");
        }
        SetKernelReadAhead(dir, settings.ReadAheadBytes, log);
        return mount;
    }

    // Each thread waits in an epoll of its own where the FUSE device is exclusive: a request wakes one waiter, not
    // all of them. The wake eventfd, in every epoll, wakes them all to stop.
    private void Receive()
    {
        LibFuse.Buf buffer = default;
        int epoll = Libc.epoll_create1(Libc.EPOLL_CLOEXEC);
        byte* events = stackalloc byte[2 * Libc.EpollEventBytes];
        try
        {
            if (epoll < 0 || !Watch(epoll, LibFuse.fuse_session_fd(_session), Libc.EPOLLIN | Libc.EPOLLEXCLUSIVE) || !Watch(epoll, _wake, Libc.EPOLLIN))
            {
                _log.LogError("mount {Dir}: cannot wait for the kernel's requests: {Error}", Directory, Libc.Describe(Libc.LastError));
                return;
            }
            while (Volatile.Read(ref _stopped) == 0)
            {
                // Read first and wait only when nothing is queued: a busy mount costs no wait per request.
                int received = LibFuse.fuse_session_receive_buf(_session, &buffer);
                if (received == -Libc.EAGAIN)
                {
                    if (Libc.epoll_wait(epoll, events, 2, -1) < 0 && Libc.LastError != Libc.EINTR)
                    {
                        _log.LogError("mount {Dir}: waiting for requests failed: {Error}", Directory, Libc.Describe(Libc.LastError));
                        break;
                    }
                    continue;
                }
                if (received == -Libc.EINTR) continue;
                if (received <= 0)
                {
                    // 0: the kernel ended the session (ENODEV); below 0: the device failed.
                    if (Volatile.Read(ref _stopped) == 0 && Interlocked.Exchange(ref _ended, 1) == 0)
                        _log.LogWarning("mount {Dir} was unmounted or aborted from outside the node ({Code}); it serves no more", Directory, received);
                    break;
                }
                LibFuse.fuse_session_process_buf(_session, &buffer);
            }
        }
        finally
        {
            if (buffer.Mem != null) Libc.free(buffer.Mem);
            if (epoll >= 0) Libc.close(epoll);
        }
    }

    private static bool Watch(int epoll, int fd, uint events)
    {
        byte* ev = stackalloc byte[Libc.EpollEventBytes];
        new Span<byte>(ev, Libc.EpollEventBytes).Clear();
        *(uint*)ev = events;
        return Libc.epoll_ctl(epoll, Libc.EPOLL_CTL_ADD, fd, ev) == 0;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return;
        ulong one = 1;
        Libc.write(_wake, &one, sizeof(ulong));
        foreach (Thread t in _threads) t.Join(StopDeadline);
        bool idle = _fs.Stop(StopDeadline);
        LibFuse.fuse_session_unmount(_session);
        Libc.close(_wake);
        if (idle)
        {
            LibFuse.fuse_session_destroy(_session);
            _self.Free();
        }
        else
        {
            // A reply still on its way would write through a freed session: keep it (a few KiB) rather than crash.
            _log.LogWarning("mount {Dir}: {Pending} replies still pending at unmount; the session is left allocated", Directory, _fs.Pending);
        }
        _log.LogInformation("unmounted {Dir}", Directory);
    }

    /// <summary>
    /// A FUSE mount whose server died leaves its directory answering ENOTCONN ("transport endpoint is not
    /// connected"); a node restarting on the same directory detaches it first. Asked with statfs, which the kernel
    /// always sends to the server: a stat may still be answered from attributes cached before the death.
    /// </summary>
    private static void ClearDeadMount(string dir, ILogger log)
    {
        MountPoint? existing = MountTable.Find(dir);
        if (existing is null || !existing.Type.StartsWith("fuse", StringComparison.Ordinal)) return;
        byte* stats = stackalloc byte[Libc.StatfsSize];
        if (Libc.statfs(dir, stats) == 0 || Libc.LastError != Libc.ENOTCONN) return;
        if (Libc.umount2(dir, Libc.MNT_DETACH) == 0) log.LogWarning("detached a dead {Type} mount at {Dir} (its server had gone)", existing.Type, dir);
        else log.LogWarning("a dead {Type} mount at {Dir} could not be detached: {Error}", existing.Type, dir, Libc.Describe(Libc.LastError));
    }

    // The kernel's read-ahead for this mount's device; best effort (sysfs may be read-only in a container).
    private static void SetKernelReadAhead(string dir, uint bytes, ILogger log)
    {
        MountPoint? mounted = MountTable.Find(dir);
        if (mounted is null) return;
        string path = $"/sys/class/bdi/{mounted.Device}/read_ahead_kb";
        try
        {
            File.WriteAllText(path, (bytes >> 10).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.LogDebug("mount {Dir}: kernel read-ahead left as it was ({Path}: {Error})", dir, path, e.Message);
        }
    }
}
