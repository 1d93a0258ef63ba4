using System.Collections.Concurrent;
using System.Security.Cryptography;
using BlobCache.Node.Origin;
using BlobCache.Node.Reading;
using BlobCache.Store;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Endpoint;

/// <summary>
/// The subset of the Blob REST API that readers use, path-style (<c>/{account}/{container}/{blob}</c>): Get Blob
/// with ranges, Get Blob Properties, Get Container Properties and List Blobs. Blob reads go through the mesh;
/// listings and container properties pass through to the origin.
/// </summary>
public sealed class BlobEndpoint(IBlobOrigin origin, BlobMetadataCache metadata, ChunkReader reader, Telemetry.NodeMetrics metrics, IReadOnlyList<string> accountAliases, ILogger<BlobEndpoint> logger)
{
    private const int MaxTrackedReaders = 4096;
    // Where each blob's last read ended, to spot sequential readers and read ahead for them.
    private readonly ConcurrentDictionary<(string, string, string), long> _lastEnd = new();

    public async Task HandleAsync(HttpContext context)
    {
        HttpRequest request = context.Request;
        bool isHead = HttpMethods.IsHead(request.Method);
        if (!isHead && !HttpMethods.IsGet(request.Method))
        {
            await BlobErrors.WriteAsync(context, 405, "UnsupportedHttpVerb", $"BlobCache serves reads only; {request.Method} is not supported").ConfigureAwait(false);
            return;
        }
        if (BlobResource.Of(context) is not { } resource)
        {
            await BlobErrors.WriteAsync(context, 400, "InvalidUri", "expected /{account}/{container}[/{blob}]").ConfigureAwait(false);
            return;
        }
        (string account, string container, string? blob) = resource;
        if (!string.Equals(account, origin.AccountName, StringComparison.Ordinal) && !accountAliases.Contains(account))
        {
            await BlobErrors.WriteAsync(context, 404, "ResourceNotFound", $"this node caches account '{origin.AccountName}', not '{account}'").ConfigureAwait(false);
            return;
        }
        if (!BlobNames.IsValidContainer(container))
        {
            await BlobErrors.WriteAsync(context, 400, "InvalidResourceName", $"'{container}' is not a valid container name").ConfigureAwait(false);
            return;
        }
        try
        {
            if (blob is null)
            {
                await HandleContainerAsync(context, account, container, isHead).ConfigureAwait(false);
                return;
            }
            if (!BlobNames.IsValidBlob(blob))
            {
                await BlobErrors.WriteAsync(context, 400, "InvalidResourceName",
                    "the blob name is not valid (1-1024 characters, no control characters, no '.' or '..' segment, not ending in '.' or '/')").ConfigureAwait(false);
                return;
            }
            // Anything but the current version's bytes or properties (metadata, tags, a snapshot or an older version)
            // is refused, never answered with the current blob's bytes.
            if (UnsupportedBlobQuery(request.Query) is { } name)
            {
                await BlobErrors.WriteAsync(context, 400, "UnsupportedQueryParameter", $"BlobCache serves Get Blob and Get Blob Properties of the current version only; '{name}' is not supported").ConfigureAwait(false);
                return;
            }
            await HandleBlobAsync(context, container, blob, isHead).ConfigureAwait(false);
        }
        catch (OriginException e)
        {
            // A refusal (4xx) is the reader's answer and is logged with the other error answers; a failure is the origin's.
            if (e.Status is not (>= 400 and < 500)) logger.LogWarning("origin failed for {Path}: {Status} {Code} {Message}", request.Path, e.Status, e.Code, e.Message);
            await BlobErrors.WriteAsync(context, e.Status is >= 400 and < 600 ? e.Status : 502, e.Code, e.Message).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // the reader went away
        }
    }

    private async Task HandleContainerAsync(HttpContext context, string account, string container, bool isHead)
    {
        IQueryCollection query = context.Request.Query;
        if (!string.Equals(query["restype"], "container", StringComparison.Ordinal))
        {
            await BlobErrors.WriteAsync(context, 400, "InvalidQueryParameterValue", "a container request needs restype=container").ConfigureAwait(false);
            return;
        }
        CancellationToken ct = context.RequestAborted;
        if (string.Equals(query["comp"], "list", StringComparison.Ordinal))
        {
            if (!ListQuery.TryParse(query, out ListQuery list, out string? code, out string? error))
            {
                await BlobErrors.WriteAsync(context, 400, code, error).ConfigureAwait(false);
                return;
            }
            (string? prefix, string? delimiter, string? marker, int? max) = list;
            ListPage? page = await origin.ListAsync(container, prefix, delimiter, marker, max, ct).ConfigureAwait(false);
            if (page is null)
            {
                await BlobErrors.WriteAsync(context, 404, "ContainerNotFound", "the container does not exist").ConfigureAwait(false);
                return;
            }
            string service = $"{context.Request.Scheme}://{context.Request.Host}/{account}/";
            byte[] xml = ListBlobsXml.Write(service, container, prefix, marker, max, delimiter, page);
            BlobHeaders.Common(context);
            context.Response.ContentType = "application/xml";
            context.Response.ContentLength = xml.Length;
            if (!isHead) await context.Response.Body.WriteAsync(xml, ct).ConfigureAwait(false);
            return;
        }
        ContainerInfo? info = await origin.GetContainerAsync(container, ct).ConfigureAwait(false);
        if (info is null)
        {
            await BlobErrors.WriteAsync(context, 404, "ContainerNotFound", "the container does not exist").ConfigureAwait(false);
            return;
        }
        BlobHeaders.Common(context);
        var h = context.Response.Headers;
        h.ETag = info.ETag;
        h.LastModified = BlobInfo.HttpDate(info.LastModified);
        h["x-ms-lease-status"] = "unlocked";
        h["x-ms-lease-state"] = "available";
        h["x-ms-has-immutability-policy"] = "false";
        h["x-ms-has-legal-hold"] = "false";
        if (info.PublicAccess is { } access) h["x-ms-blob-public-access"] = access;
        if (info.Metadata is { } metadata)
        {
            foreach ((string name, string value) in metadata) h["x-ms-meta-" + name] = value;
        }
        context.Response.ContentLength = 0;
    }

    private static string? UnsupportedBlobQuery(IQueryCollection query)
    {
        foreach (string name in (ReadOnlySpan<string>)["comp", "snapshot", "versionid", "restype"])
        {
            if (query.ContainsKey(name)) return name;
        }
        return null;
    }

    internal static string? Optional(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private async Task HandleBlobAsync(HttpContext context, string container, string blob, bool isHead)
    {
        CancellationToken ct = context.RequestAborted;
        HttpRequest request = context.Request;
        ReadConditions conditions = ReadConditions.From(request.Headers);
        // At most two passes: the second after learning that a cached ETag was stale.
        for (int pass = 0; pass < 2; pass++)
        {
            BlobInfo? info = await metadata.GetAsync(container, blob, ct).ConfigureAwait(false);
            ReadVerdict verdict = conditions.Check(info);
            if (verdict == ReadVerdict.Failed && pass == 0 && info is not null && conditions.IfMatch is not null)
            {
                metadata.Invalidate(container, blob); // the reader may know a newer version than our cache
                continue;
            }
            switch (verdict)
            {
                case ReadVerdict.Unsatisfiable:
                    await BlobErrors.WriteAsync(context, 400, "UnsatisfiableCondition", "The request includes an unsatisfiable condition for this operation.").ConfigureAwait(false);
                    return;
                case ReadVerdict.Failed:
                    await BlobErrors.WriteAsync(context, 412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.").ConfigureAwait(false);
                    return;
                case ReadVerdict.NotModified:
                    await BlobErrors.WriteAsync(context, 304, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.").ConfigureAwait(false);
                    return;
            }
            if (info is null)
            {
                await BlobErrors.WriteAsync(context, 404, "BlobNotFound", "The specified blob does not exist.").ConfigureAwait(false);
                return;
            }
            if (isHead)
            {
                BlobHeaders.Blob(context, info, BlobAnswer.Properties);
                context.Response.ContentLength = info.Length;
                return;
            }
            ByteRange range = ByteRange.Resolve(request.Headers["x-ms-range"].ToString(), request.Headers.Range.ToString(), info.Length);
            switch (range.Kind)
            {
                case RangeKind.Invalid:
                    await BlobErrors.WriteAsync(context, 400, "InvalidHeaderValue", "the range header is not bytes=a-b, bytes=a- or bytes=-n").ConfigureAwait(false);
                    return;
                case RangeKind.Multiple:
                    await BlobErrors.WriteAsync(context, 400, "InvalidHeaderValue", "one range per request: send bytes=a-b,c-d as separate requests").ConfigureAwait(false);
                    return;
                case RangeKind.Unsatisfiable:
                    await BlobErrors.WriteAsync(context, 416, "InvalidRange", "The range specified is invalid for the current size of the resource.", $"bytes */{info.Length}").ConfigureAwait(false);
                    return;
            }
            bool rangeMd5 = string.Equals(request.Headers["x-ms-range-get-content-md5"], "true", StringComparison.OrdinalIgnoreCase);
            if (rangeMd5 && !range.CanCarryMd5)
            {
                await BlobErrors.WriteAsync(context, 400, "OutOfRangeInput", "x-ms-range-get-content-md5 needs a range of at most 4 MiB.").ConfigureAwait(false);
                return;
            }
            try
            {
                await SendBytesAsync(context, container, blob, info, range, rangeMd5, ct).ConfigureAwait(false);
                return;
            }
            catch (BlobChangedException) when (!context.Response.HasStarted && pass == 0)
            {
                metadata.Invalidate(container, blob); // overwritten since we looked: start over with the new version
            }
            catch (BlobChangedException e)
            {
                metadata.Invalidate(container, blob);
                logger.LogWarning("{Blob} changed while being read: {Message}", blob, e.Message);
                await BlobErrors.WriteAsync(context, 412, "ConditionNotMet", "The blob changed while it was being read; read it again.").ConfigureAwait(false);
                return;
            }
        }
        await BlobErrors.WriteAsync(context, 412, "ConditionNotMet", "The blob keeps changing; read it again.").ConfigureAwait(false);
    }

    private async Task SendBytesAsync(HttpContext context, string container, string blob, BlobInfo info, ByteRange range, bool rangeMd5, CancellationToken ct)
    {
        HttpResponse response = context.Response;
        string account = origin.AccountName;
        long first = range.Start / reader.ChunkSize;
        long last = range.Length == 0 ? first - 1 : range.End / reader.ChunkSize;
        // Hold the chunks the headers depend on before sending them, so a failure can still be a proper error: the
        // first chunk, or every chunk of the range when its MD5 goes in a header (at most 4 MiB of them).
        int chunks = (int)(last - first + 1);
        var held = new (ChunkBuffer? Chunk, Telemetry.ReadSource Source)[rangeMd5 ? chunks : Math.Min(1, chunks)];
        bool sequential = IsSequential(container, blob, info.ETag, range);
        // Before the first chunk is waited for: a cold read then has several ranged GETs on Blob at once from its start,
        // rather than one chunk's round trip after another.
        if (chunks > 0) ReadAhead(account, container, blob, info, first, last, sequential);
        try
        {
            for (int i = 0; i < held.Length; i++)
                held[i] = await reader.GetAsync(new ChunkId(account, container, blob, info.ETag, first + i), info.Length, ct).ConfigureAwait(false);
            BlobHeaders.Blob(context, info, range.Kind == RangeKind.Partial ? BlobAnswer.Range : BlobAnswer.Whole);
            if (range.Kind == RangeKind.Partial)
            {
                response.StatusCode = 206;
                response.Headers.ContentRange = $"bytes {range.Start}-{range.End}/{info.Length}";
            }
            if (rangeMd5) response.Headers.ContentMD5 = RangeMd5(held, first, range);
            response.ContentLength = range.Length;
            for (long index = first; index <= last; index++)
            {
                int h = (int)(index - first);
                ChunkBuffer chunk;
                Telemetry.ReadSource source;
                if (h < held.Length)
                {
                    (chunk, source) = (held[h].Chunk!, held[h].Source);
                    held[h] = default;
                }
                else
                {
                    (chunk, source) = await reader.GetAsync(new ChunkId(account, container, blob, info.ETag, index), info.Length, ct).ConfigureAwait(false);
                }
                try
                {
                    (int from, int to) = Slice(chunk, index, range);
                    ReadAhead(account, container, blob, info, index, last, sequential);
                    await response.Body.WriteAsync(chunk.Memory[from..to], ct).ConfigureAwait(false);
                    metrics.Served(source, to - from);
                }
                finally
                {
                    chunk.Release();
                }
            }
        }
        finally
        {
            foreach ((ChunkBuffer? chunk, _) in held) chunk?.Release();
        }
    }

    /// <summary>The part of chunk <paramref name="index"/> that lies in <paramref name="range"/>.</summary>
    private (int From, int To) Slice(ChunkBuffer chunk, long index, ByteRange range)
    {
        long chunkStart = index * reader.ChunkSize;
        return ((int)Math.Max(0, range.Start - chunkStart), (int)Math.Min(chunk.Length, range.End + 1 - chunkStart));
    }

    /// <summary>The MD5 of <paramref name="range"/>, from the held chunks that are about to be sent.</summary>
    private string RangeMd5((ChunkBuffer? Chunk, Telemetry.ReadSource Source)[] held, long first, ByteRange range)
    {
        using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        for (int i = 0; i < held.Length; i++)
        {
            ChunkBuffer chunk = held[i].Chunk!;
            (int from, int to) = Slice(chunk, first + i, range);
            md5.AppendData(chunk.Memory.Span[from..to]);
        }
        return Convert.ToBase64String(md5.GetHashAndReset());
    }

    private bool IsSequential(string container, string blob, string etag, ByteRange range)
    {
        var key = (container, blob, etag);
        long end = range.Start + range.Length;
        bool sequential = range.Kind == RangeKind.Whole
            || (_lastEnd.TryGetValue(key, out long previous) && range.Start >= previous && range.Start - previous <= 2L * reader.ChunkSize);
        if (_lastEnd.Count >= MaxTrackedReaders) _lastEnd.Clear();
        _lastEnd[key] = end;
        return sequential || range.Start == 0;
    }

    /// <summary>
    /// Starts fetching the chunks after <paramref name="index"/>: those of the request itself up to <paramref name="last"/>,
    /// which it is about to read anyway, and for a sequential reader those past it that it will ask for next.
    /// </summary>
    private void ReadAhead(string account, string container, string blob, BlobInfo info, long index, long last, bool sequential)
    {
        long end = sequential ? (info.Length + reader.ChunkSize - 1) / reader.ChunkSize - 1 : last;
        for (long next = index + 1; next <= index + reader.ReadAheadChunks && next <= end; next++)
            reader.Prefetch(new ChunkId(account, container, blob, info.ETag, next), info.Length);
    }
}
