using System.Text.Json;
using BlobCache.Node.Endpoint;
using BlobCache.Node.Origin;
using BlobCache.Node.Reading;
using Microsoft.AspNetCore.Http;

namespace BlobCache.Node.Hosting;

/// <summary><c>POST /warm?path=ACCOUNT/CONTAINER[/PREFIX]</c>: runs a warm-up and streams its progress as JSON lines.</summary>
public static class WarmEndpoint
{
    public static async Task HandleAsync(HttpContext context, WarmUp warm, IBlobOrigin origin)
    {
        string path = context.Request.Query["path"].ToString();
        string[] parts = path.Split('/', 3);
        if (parts.Length < 2 || parts[0] != origin.AccountName || !BlobNames.IsValidContainer(parts[1]))
        {
            context.Response.StatusCode = 400;
            await context.Response.WriteAsync($"path must be {origin.AccountName}/CONTAINER[/PREFIX], got '{path}'\n").ConfigureAwait(false);
            return;
        }
        string? prefix = parts.Length == 3 && parts[2].Length > 0 ? parts[2] : null;
        context.Response.ContentType = "application/x-ndjson";
        WarmProgress? latest = null;
        Task<WarmProgress> run = warm.RunAsync(parts[1], prefix, p => Volatile.Write(ref latest, p), context.RequestAborted);
        while (!run.IsCompleted)
        {
            await Task.WhenAny(run, Task.Delay(250, context.RequestAborted)).ConfigureAwait(false);
            WarmProgress? p = Volatile.Read(ref latest);
            if (p is not null && !run.IsCompleted) await WriteLineAsync(context, p).ConfigureAwait(false);
        }
        WarmProgress final;
        try
        {
            final = await run.ConfigureAwait(false);
        }
        catch (OriginException e)
        {
            final = new WarmProgress(0, 0, 0, 0, 0, 0, 0, 0, true, e.Message);
        }
        await WriteLineAsync(context, final).ConfigureAwait(false);
    }

    private static async Task WriteLineAsync(HttpContext context, WarmProgress p)
    {
        await context.Response.WriteAsync(JsonSerializer.Serialize(p, WarmJson.Default.WarmProgress) + "\n", context.RequestAborted).ConfigureAwait(false);
        await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }
}
