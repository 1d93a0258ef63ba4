using System.Diagnostics;
using System.Globalization;
using System.Net;
using BlobCache.Node.Endpoint;
using BlobCache.Node.Origin;
using BlobCache.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace BlobCache.LoadTests;

/// <summary>
/// The local endpoint's floor: Kestrel, set up as the node sets it up, answering every GET with a range of one
/// file held in memory and the node's response headers, and nothing else (no routing, access rules, metadata,
/// chunk store or metrics). BlobCache against this row is what the node's own code costs; this row against
/// nginx is what the HTTP server costs. It runs in a process of its own, as the node and nginx do, so the
/// readers' CPU is not its CPU.
/// </summary>
public sealed class KestrelFloor : IAsyncDisposable
{
    private readonly Process _process;

    public int Port { get; }

    public int Pid => _process.Id;

    private KestrelFloor(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    /// <summary>Starts this program as `kestrel-floor --file F --port P` and waits until it listens.</summary>
    public static async Task<KestrelFloor> StartAsync(string file)
    {
        int port = Ports.Next();
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this program to start the Kestrel floor");
        var psi = new ProcessStartInfo(self) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        // Under `dotnet BlobCache.LoadTests.dll` the process is dotnet itself: pass the assembly first.
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(KestrelFloor).Assembly.Location);
        foreach (string a in new[] { "kestrel-floor", "--file", file, "--port", port.ToString(CultureInfo.InvariantCulture) }) psi.ArgumentList.Add(a);
        Process p = Process.Start(psi) ?? throw new InvalidOperationException("the Kestrel floor did not start");
        var errors = new System.Text.StringBuilder();
        p.OutputDataReceived += static (_, _) => { };
        p.ErrorDataReceived += (_, e) => { lock (errors) errors.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var floor = new KestrelFloor(p, port);
        try
        {
            await Listening.WaitAsync(p, port, "the Kestrel floor", () =>
            {
                lock (errors) return errors.ToString();
            }).ConfigureAwait(false);
        }
        catch
        {
            await floor.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return floor;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync().ConfigureAwait(false);
        _process.Dispose();
    }

    /// <summary>The server itself (`kestrel-floor`): serves <paramref name="file"/> on 127.0.0.1:<paramref name="port"/> until killed.</summary>
    public static async Task<int> ServeAsync(string file, int port)
    {
        byte[] data = await File.ReadAllBytesAsync(file).ConfigureAwait(false);
        var info = new BlobInfo(data.Length, $"\"0x{(uint)data.Length:X8}\"", File.GetLastWriteTimeUtc(file), "application/octet-stream", null);
        string modified = info.LastModified.UtcDateTime.ToString("R", CultureInfo.InvariantCulture);
        string contentRangeTail = $"/{data.Length}";
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        // The node's switch for inline I/O, read from the same variable, so both rows run alike.
        string? inline = Environment.GetEnvironmentVariable("BLOBCACHE_INLINE_IO");
        if (string.Equals(inline, "true", StringComparison.OrdinalIgnoreCase) || inline == "1")
            builder.WebHost.UseSockets(s => s.UnsafePreferInlineScheduling = true);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, port, l => l.Protocols = HttpProtocols.Http1);
            k.Limits.MaxResponseBufferSize = 8 * 1024 * 1024; // as the node
        });
        WebApplication app = builder.Build();
        app.Run(async context =>
        {
            HttpRequest request = context.Request;
            HttpResponse response = context.Response;
            ByteRange range = ByteRange.Resolve(request.Headers["x-ms-range"].ToString(), request.Headers.Range.ToString(), data.Length);
            if (range.Kind is not (RangeKind.Whole or RangeKind.Partial))
            {
                response.StatusCode = range.Kind == RangeKind.Unsatisfiable ? 416 : 400;
                return;
            }
            BlobHeaders.Blob(context, info, modified); // the node's own headers for a blob's bytes
            if (range.Kind == RangeKind.Partial)
            {
                response.StatusCode = 206;
                response.Headers.ContentRange = string.Create(CultureInfo.InvariantCulture, $"bytes {range.Start}-{range.End}{contentRangeTail}");
            }
            response.ContentLength = range.Length;
            await response.Body.WriteAsync(data.AsMemory((int)range.Start, (int)range.Length), context.RequestAborted).ConfigureAwait(false);
        });
        await app.RunAsync().ConfigureAwait(false);
        return 0;
    }
}
