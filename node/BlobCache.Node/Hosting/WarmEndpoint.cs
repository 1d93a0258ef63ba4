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
        // The prefix may end in '/' (a directory), so it is held to the one rule a name passed through a URI needs.
        if (BlobResource.Of(context) is not { } resource || resource.Account != origin.AccountName || !BlobNames.IsValidContainer(resource.Container)
            || (resource.Blob is { } named && BlobNames.HasDotSegment(named)))
        {
            context.Response.StatusCode = 400;
            await context.Response.WriteAsync($"path must be {origin.AccountName}/CONTAINER[/PREFIX] with no '.' or '..' segment, got '{context.Request.Query["path"]}'\n").ConfigureAwait(false);
            return;
        }
        (_, string container, string? prefix) = resource;
        context.Response.ContentType = "application/x-ndjson";
        WarmProgress? latest = null;
        Task<WarmProgress> run = warm.RunAsync(container, prefix, p => Volatile.Write(ref latest, p), context.RequestAborted);
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
