using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BlobCache.Fuse.Native;

namespace BlobCache.Fuse;

/// <summary>
/// The entry points libfuse calls, one per operation: each finds its file system through the request's user data
/// and never lets an exception reach native code (that would end the process): the reader gets EIO instead.
/// </summary>
public sealed unsafe partial class ReadOnlyFileSystem
{
    /// <summary>Fills libfuse's operations table (<see cref="LibFuse.OpCount"/> slots; the rest stay null, libfuse's defaults).</summary>
    internal static void FillOperations(nint* ops)
    {
        new Span<nint>(ops, LibFuse.OpCount).Clear();
        ops[LibFuse.OpInit] = (nint)(delegate* unmanaged[Cdecl]<void*, LibFuse.ConnInfo*, void>)&OnInit;
        ops[LibFuse.OpLookup] = (nint)(delegate* unmanaged[Cdecl]<nint, ulong, byte*, void>)&OnLookup;
        ops[LibFuse.OpForget] = (nint)(delegate* unmanaged[Cdecl]<nint, ulong, ulong, void>)&OnForget;
        ops[LibFuse.OpGetattr] = (nint)(delegate* unmanaged[Cdecl]<nint, ulong, LibFuse.FileInfo*, void>)&OnGetAttr;
        ops[LibFuse.OpOpen] = (nint)(delegate* unmanaged[Cdecl]<nint, ulong, LibFuse.FileInfo*, void>)&OnOpen;
        ops[LibFuse.OpRead] = (nint)(delegate* unmanaged[Cdecl]<nint, ulong, nuint, long, LibFuse.FileInfo*, void>)&OnRead;
        ops[LibFuse.OpRelease] = (nint)(delegate* unmanaged[Cdecl]<nint, ulong, LibFuse.FileInfo*, void>)&OnRelease;
        ops[LibFuse.OpOpendir] = (nint)(delegate* unmanaged[Cdecl]<nint, ulong, LibFuse.FileInfo*, void>)&OnOpenDirectory;
        ops[LibFuse.OpReaddir] = (nint)(delegate* unmanaged[Cdecl]<nint, ulong, nuint, long, LibFuse.FileInfo*, void>)&OnReadDirectory;
        ops[LibFuse.OpReleasedir] = (nint)(delegate* unmanaged[Cdecl]<nint, ulong, LibFuse.FileInfo*, void>)&OnReleaseDirectory;
        ops[LibFuse.OpForgetMulti] = (nint)(delegate* unmanaged[Cdecl]<nint, nuint, LibFuse.ForgetData*, void>)&OnForgetMulti;
    }

    private static ReadOnlyFileSystem Of(nint req) => Of(LibFuse.fuse_req_userdata(req));

    private static ReadOnlyFileSystem Of(void* userdata) => (ReadOnlyFileSystem)GCHandle.FromIntPtr((nint)userdata).Target!;

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnInit(void* userdata, LibFuse.ConnInfo* conn)
    {
        try
        {
            Of(userdata).Init(conn);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"blobcache mount: init failed: {e}");
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnLookup(nint req, ulong parent, byte* name)
    {
        try
        {
            Of(req).Lookup(req, parent, NameOf(name));
        }
        catch (Exception e)
        {
            Crashed(req, e);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnForget(nint req, ulong ino, ulong count)
    {
        try
        {
            Of(req).Forget(ino, count);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"blobcache mount: forget failed: {e}");
        }
        finally
        {
            LibFuse.fuse_reply_none(req);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnForgetMulti(nint req, nuint count, LibFuse.ForgetData* forgets)
    {
        try
        {
            ReadOnlyFileSystem fs = Of(req);
            for (nuint i = 0; i < count; i++) fs.Forget(forgets[i].Ino, forgets[i].Nlookup);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"blobcache mount: forget failed: {e}");
        }
        finally
        {
            LibFuse.fuse_reply_none(req);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnGetAttr(nint req, ulong ino, LibFuse.FileInfo* fi)
    {
        try
        {
            Of(req).GetAttr(req, ino);
        }
        catch (Exception e)
        {
            Crashed(req, e);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnOpen(nint req, ulong ino, LibFuse.FileInfo* fi)
    {
        try
        {
            Of(req).Open(req, ino, fi);
        }
        catch (Exception e)
        {
            Crashed(req, e);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnRead(nint req, ulong ino, nuint size, long offset, LibFuse.FileInfo* fi)
    {
        try
        {
            Of(req).Read(req, size, offset, fi);
        }
        catch (Exception e)
        {
            Crashed(req, e);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnRelease(nint req, ulong ino, LibFuse.FileInfo* fi)
    {
        try
        {
            Of(req).Release(req, fi->Fh);
        }
        catch (Exception e)
        {
            Crashed(req, e);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnOpenDirectory(nint req, ulong ino, LibFuse.FileInfo* fi)
    {
        try
        {
            Of(req).OpenDirectory(req, ino, fi);
        }
        catch (Exception e)
        {
            Crashed(req, e);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnReadDirectory(nint req, ulong ino, nuint size, long offset, LibFuse.FileInfo* fi)
    {
        try
        {
            Of(req).ReadDirectory(req, ino, size, offset, fi->Fh);
        }
        catch (Exception e)
        {
            Crashed(req, e);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnReleaseDirectory(nint req, ulong ino, LibFuse.FileInfo* fi)
    {
        try
        {
            Of(req).ReleaseDirectory(req, fi->Fh);
        }
        catch (Exception e)
        {
            Crashed(req, e);
        }
    }

    // A bug, not a failed read: say so loudly, and still answer the kernel.
    private static void Crashed(nint req, Exception e)
    {
        try
        {
            Console.Error.WriteLine($"blobcache mount: operation failed: {e}");
        }
        finally
        {
            LibFuse.fuse_reply_err(req, Libc.EIO);
        }
    }
}
