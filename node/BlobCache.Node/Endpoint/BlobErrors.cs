using System.Security;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace BlobCache.Node.Endpoint;

/// <summary>Blob-style error answers: the status, an <c>x-ms-error-code</c> header and an XML body, as Azure SDKs expect.</summary>
public static class BlobErrors
{
    /// <summary>Answers with the error, logged (rate-limited) when the node registered an <see cref="ErrorAnswerLog"/>.</summary>
    public static Task WriteAsync(HttpContext context, int status, string code, string message, string? contentRange = null)
    {
        HttpResponse response = context.Response;
        if (response.HasStarted)
        {
            // Headers are gone: the only honest signal left is a broken connection, never bytes of the wrong length.
            context.Abort();
            return Task.CompletedTask;
        }
        (context.RequestServices?.GetService(typeof(ErrorAnswerLog)) as ErrorAnswerLog)?.Write(context, status, code, message);
        response.Clear();
        response.StatusCode = status;
        response.Headers["x-ms-error-code"] = code;
        if (contentRange is not null) response.Headers.ContentRange = contentRange;
        BlobHeaders.Common(context);
        if (HttpMethods.IsHead(context.Request.Method)) return Task.CompletedTask;
        response.ContentType = "application/xml";
        if (status == 304) return Task.CompletedTask; // Blob's error shape, but HTTP allows a 304 no body
        byte[] bytes = Body(code, message, response.Headers["x-ms-request-id"].ToString());
        response.ContentLength = bytes.Length;
        return response.Body.WriteAsync(bytes).AsTask();
    }

    /// <summary>Blob's XML error document.</summary>
    public static byte[] Body(string code, string message, string requestId) => Encoding.UTF8.GetBytes(
        $"<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{SecurityElement.Escape(message)}\nRequestId:{requestId}\nTime:{DateTime.UtcNow:O}</Message></Error>");
}

/// <summary>Headers every Blob response carries.</summary>
public static class BlobHeaders
{
    public const string Version = "2025-01-05";

    public static void Common(HttpContext context)
    {
        var h = context.Response.Headers;
        h["x-ms-request-id"] = context.TraceIdentifier;
        h["x-ms-version"] = context.Request.Headers.TryGetValue("x-ms-version", out var v) && v.Count > 0 ? v : (StringValues)Version;
        if (context.Request.Headers.TryGetValue("x-ms-client-request-id", out var c)) h["x-ms-client-request-id"] = c;
        // No Date here: Kestrel sets one per response from a value it refreshes once a second.
        h.Server = "BlobCache";
    }

    /// <summary>
    /// The headers of a blob's properties (<paramref name="answer"/> Properties, Get Blob Properties) or bytes
    /// (Whole or Range, Get Blob), as Blob sends them: Content-MD5 is the blob's on properties and whole reads;
    /// reads send the blob's MD5 as x-ms-blob-content-md5; only properties carry the access tier.
    /// </summary>
    public static void Blob(HttpContext context, Origin.BlobInfo info, BlobAnswer answer)
    {
        Common(context);
        var h = context.Response.Headers;
        h.ETag = info.ETag;
        h.LastModified = info.LastModifiedText;
        if (answer == BlobAnswer.Metadata)
        {
            // Get Blob Metadata: the version and its user metadata, nothing of the content.
            if (info.Details?.Metadata is { } metadata)
            {
                foreach ((string name, string value) in metadata) h["x-ms-meta-" + name] = value;
            }
            return;
        }
        h.AcceptRanges = "bytes";
        h.ContentType = info.ContentType;
        h["x-ms-blob-type"] = "BlockBlob";
        h["x-ms-lease-status"] = "unlocked";
        h["x-ms-lease-state"] = "available";
        foreach (KeyValuePair<string, string> p in info.PropertyHeaders) h[p.Key] = p.Value;
        if (answer == BlobAnswer.Properties)
        {
            foreach (KeyValuePair<string, string> p in info.TierHeaders) h[p.Key] = p.Value;
        }
        if (info.ContentMd5Text is not { } md5) return;
        if (answer != BlobAnswer.Range) h.ContentMD5 = md5;
        if (answer != BlobAnswer.Properties) h["x-ms-blob-content-md5"] = md5;
    }
}

/// <summary>Which answer about a blob is being written: its properties, all its bytes, a range of them, or its user metadata.</summary>
public enum BlobAnswer { Properties, Whole, Range, Metadata }
