using System.Runtime.InteropServices;

namespace BlobCache.Fuse.Native;

/// <summary>
/// The part of libfuse3's low-level API the mount uses (3.x ABI; the layouts below are the same on x86-64 and arm64).
/// Requests are received and dispatched with <c>fuse_session_receive_buf</c> / <c>fuse_session_process_buf</c> on
/// threads of our own; callbacks come from the function-pointer table handed to <c>fuse_session_new</c>.
/// </summary>
internal static unsafe partial class LibFuse
{
    private const string Lib = "libfuse3.so.3";

    /// <summary>Slots of <c>struct fuse_lowlevel_ops</c> (function pointers in declaration order).</summary>
    public const int OpInit = 0, OpDestroy = 1, OpLookup = 2, OpForget = 3, OpGetattr = 4, OpOpen = 14, OpRead = 15,
        OpRelease = 18, OpOpendir = 20, OpReaddir = 21, OpReleasedir = 22, OpForgetMulti = 38;

    /// <summary>The table passed to libfuse ends after <c>forget_multi</c>: later slots are left to libfuse's defaults.</summary>
    public const int OpCount = OpForgetMulti + 1;

    // struct fuse_conn_info: capability bits.
    public const uint CapAsyncRead = 1 << 0, CapAutoInvalData = 1 << 12, CapAsyncDio = 1 << 15, CapParallelDirops = 1 << 18;

    // struct fuse_file_info bit-field: the bits after `int flags`, lowest first. Only bits stable across 3.x are named.
    public const uint FileDirectIo = 1 << 1, FileKeepCache = 1 << 2;

    [StructLayout(LayoutKind.Sequential)]
    public struct FuseArgs
    {
        public int Argc;
        public byte** Argv;
        public int Allocated;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct FileInfo
    {
        public int Flags;
        public uint Bits;
        public uint Padding;
        public ulong Fh;
        public ulong LockOwner;
        public uint PollEvents;
    }

    /// <summary>The leading fields of <c>struct fuse_conn_info</c> (22 reserved words follow; never touched).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ConnInfo
    {
        public uint ProtoMajor;
        public uint ProtoMinor;
        public uint MaxWrite;
        public uint MaxRead;
        public uint MaxReadahead;
        public uint Capable;
        public uint Want;
        public uint MaxBackground;
        public uint CongestionThreshold;
        public uint TimeGran;
    }

    /// <summary><c>struct fuse_buf</c>: one received request (memory libfuse allocates once per thread and reuses).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Buf
    {
        public nuint Size;
        public int Flags;
        public void* Mem;
        public int Fd;
        public long Pos;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public byte* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct ForgetData
    {
        public ulong Ino;
        public ulong Nlookup;
    }

    [LibraryImport(Lib)] public static partial nint fuse_session_new(FuseArgs* args, nint* ops, nuint opSize, void* userdata);
    [LibraryImport(Lib)] public static partial void fuse_opt_free_args(FuseArgs* args);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial int fuse_session_mount(nint se, string mountpoint);
    [LibraryImport(Lib)] public static partial int fuse_session_fd(nint se);
    [LibraryImport(Lib)] public static partial void fuse_session_exit(nint se);
    [LibraryImport(Lib)] public static partial void fuse_session_unmount(nint se);
    [LibraryImport(Lib)] public static partial void fuse_session_destroy(nint se);
    [LibraryImport(Lib)] public static partial int fuse_session_receive_buf(nint se, Buf* buf);
    [LibraryImport(Lib)] public static partial void fuse_session_process_buf(nint se, Buf* buf);
    [LibraryImport(Lib), SuppressGCTransition] public static partial void* fuse_req_userdata(nint req);
    [LibraryImport(Lib)] public static partial int fuse_reply_err(nint req, int err);
    [LibraryImport(Lib)] public static partial void fuse_reply_none(nint req);
    [LibraryImport(Lib)] public static partial int fuse_reply_entry(nint req, byte* entryParam);
    [LibraryImport(Lib)] public static partial int fuse_reply_attr(nint req, byte* stat, double attrTimeout);
    [LibraryImport(Lib)] public static partial int fuse_reply_open(nint req, FileInfo* fi);
    [LibraryImport(Lib)] public static partial int fuse_reply_buf(nint req, byte* buf, nuint size);
    [LibraryImport(Lib)] public static partial int fuse_reply_iov(nint req, IoVec* iov, int count);

    /// <summary>
    /// <c>struct fuse_entry_param</c>: ino, generation, a <c>struct stat</c>, then the attribute and entry timeouts
    /// (doubles, seconds). Its size depends on the architecture's <c>struct stat</c>.
    /// </summary>
    public static int EntryParamSize => 16 + StatBuffer.Size + 16;

    public static void WriteEntryParam(byte* entry, ulong ino, double attrTimeout, double entryTimeout)
    {
        *(ulong*)entry = ino;
        *(ulong*)(entry + 8) = 0; // generation: inode numbers are never reused within a mount
        *(double*)(entry + 16 + StatBuffer.Size) = attrTimeout;
        *(double*)(entry + 24 + StatBuffer.Size) = entryTimeout;
    }
}
