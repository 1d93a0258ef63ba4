using System.Collections.Concurrent;
using System.Security.Cryptography;
using BlobCache.Node.Origin;
using BlobCache.Node.Reading;
using BlobCache.Store;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Endpoint;

/// <summary>
/// The read side of the Blob REST API, path-style (<c>/{account}/{container}/{blob}</c>): Get Blob with ranges, Get
/// Blob Properties and Get Blob Metadata go through the mesh and the metadata cache; the rest (List Containers, Get
/// Account Information, Get Service Properties, Get Container Properties and ACL, List Blobs, Get Blob Tags) pass
/// through to the origin.
/// </summary>
public sealed class BlobEndpoint(IBlobOrigin origin, BlobMetadataCache metadata, ChunkReader reader, Telemetry.NodeMetrics metrics, IReadOnlyList<string> accountAliases, ILogger<BlobEndpoint> logger,
    Security.EndpointAccess? access = null)
{
    private const int MaxTrackedReaders = 4096;

    /// <summary>Where passed-through reads are answered from (cached, through the mesh); null: straight from the origin.</summary>
    public Reading.PassThroughCache? PassThrough { get; init; }
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
            await BlobErrors.WriteAsync(context, 400, "InvalidUri", "expected /{account}[/{container}[/{blob}]]").ConfigureAwait(false);
            return;
        }
        (string account, string container, string? blob) = resource;
        if (!string.Equals(account, origin.AccountName, StringComparison.Ordinal) && !accountAliases.Contains(account))
        {
            await BlobErrors.WriteAsync(context, 404, "ResourceNotFound", $"this node caches account '{origin.AccountName}', not '{account}'").ConfigureAwait(false);
            return;
        }
        if (resource.IsAccount)
        {
            await Guarded(context, () => HandleAccountAsync(context, account, isHead)).ConfigureAwait(false);
            return;
        }
        if (!BlobNames.IsValidContainer(container))
        {
            await BlobErrors.WriteAsync(context, 400, "InvalidResourceName", $"'{container}' is not a valid container name").ConfigureAwait(false);
            return;
        }
        if (blob is null)
        {
            await Guarded(context, () => HandleContainerAsync(context, account, container, isHead)).ConfigureAwait(false);
            return;
        }
        if (!BlobNames.IsValidBlob(blob))
        {
            await BlobErrors.WriteAsync(context, 400, "InvalidResourceName",
                "the blob name is not valid (1-1024 characters, no control characters, no '.' or '..' segment, not ending in '.' or '/')").ConfigureAwait(false);
            return;
        }
        // Anything but the current version's bytes, properties, metadata or tags (a snapshot, an older version) is
        // refused, never answered with the current blob's bytes.
        if (UnsupportedBlobQuery(request.Query) is { } name)
        {
            await BlobErrors.WriteAsync(context, 400, "UnsupportedQueryParameter", $"BlobCache serves the current version of a blob only; '{name}' is not supported").ConfigureAwait(false);
            return;
        }
        await Guarded(context, () => HandleBlobAsync(context, container, blob, isHead)).ConfigureAwait(false);
    }

    // Origin refusals and failures become Blob's error answers; a reader that went away needs none.
    private async Task Guarded(HttpContext context, Func<Task> handle)
    {
        try
        {
            await handle().ConfigureAwait(false);
        }
        catch (OriginException e)
        {
            // A refusal (4xx) is the reader's answer and is logged with the other error answers; a failure is the origin's.
            if (e.Status is not (>= 400 and < 500)) logger.LogWarning("origin failed for {Path}: {Status} {Code} {Message}", context.Request.Path, e.Status, e.Code, e.Message);
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
        if (string.Equals(query["comp"], "acl", StringComparison.Ordinal))
        {
            await PassThroughAsync(context, new PassThroughRead(PassThroughKind.ContainerAcl, container), isHead).ConfigureAwait(false);
            return;
        }
        if (string.Equals(query["comp"], "list", StringComparison.Ordinal))
        {
            if (!ListQuery.TryParse(query, out ListQuery list, out string? code, out string? error))
            {
                await BlobErrors.WriteAsync(context, 400, code, error).ConfigureAwait(false);
                return;
            }
            if (origin is IOriginPassThrough)
            {
                // Blob's own listing: every include= and the parameters echoed exactly as Blob echoes them.
                await PassThroughAsync(context, new PassThroughRead(PassThroughKind.ListBlobs, container, null, list.Prefix, list.Delimiter, list.Marker, list.MaxResults, Include(query)),
                    isHead, listing: true).ConfigureAwait(false);
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
        if (origin is IOriginPassThrough)
        {
            // Blob's own answer (every property header it sends), cached and through the mesh like listings.
            await PassThroughAsync(context, new PassThroughRead(PassThroughKind.ContainerProperties, container), isHead).ConfigureAwait(false);
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

    /// <summary>List Containers, Get Account Information and Get Service Properties, passed through to the origin.</summary>
    private async Task HandleAccountAsync(HttpContext context, string account, bool isHead)
    {
        IQueryCollection query = context.Request.Query;
        string comp = query["comp"].ToString(), restype = query["restype"].ToString();
        if (comp == "list" && restype.Length == 0)
        {
            if (!ListQuery.TryParse(query, out ListQuery list, out string? code, out string? error))
            {
                await BlobErrors.WriteAsync(context, 400, code, error).ConfigureAwait(false);
                return;
            }
            var read = new PassThroughRead(PassThroughKind.ListContainers, Prefix: list.Prefix, Marker: list.Marker, MaxResults: list.MaxResults, Include: Include(query));
            await PassThroughAsync(context, read, isHead, listing: true, showContainer: c => access?.CanSee(account, c) ?? true).ConfigureAwait(false);
            return;
        }
        PassThroughKind? kind = (restype, comp) switch
        {
            ("account", "properties") => PassThroughKind.AccountInformation,
            ("service", "properties") => PassThroughKind.ServiceProperties,
            _ => null,
        };
        if (kind is null)
        {
            await BlobErrors.WriteAsync(context, 400, "InvalidQueryParameterValue",
                "an account-level request is comp=list, restype=account&comp=properties or restype=service&comp=properties; BlobCache serves reads only").ConfigureAwait(false);
            return;
        }
        await PassThroughAsync(context, new PassThroughRead(kind.Value), isHead).ConfigureAwait(false);
    }

    private static IReadOnlyList<string>? Include(IQueryCollection query) =>
        query.TryGetValue("include", out var include) ? include.ToString().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : null;

    /// <summary>
    /// Answers with what Blob answered to <paramref name="read"/>; a <paramref name="listing"/> gets the node's own
    /// ServiceEndpoint, and List Containers only the containers <paramref name="showContainer"/> shows.
    /// </summary>
    private async Task PassThroughAsync(HttpContext context, PassThroughRead read, bool isHead, bool listing = false, Func<string, bool>? showContainer = null)
    {
        if (origin is not IOriginPassThrough passThrough)
        {
            await BlobErrors.WriteAsync(context, 400, "UnsupportedQueryParameter", $"this node's origin ({origin.Describe}) does not answer {read.Kind}").ConfigureAwait(false);
            return;
        }
        PassThroughAnswer answer = PassThrough is { } cache
            ? await cache.GetAsync(read, context.RequestAborted).ConfigureAwait(false)
            : await passThrough.PassThroughAsync(read, context.RequestAborted).ConfigureAwait(false);
        byte[] body = listing && answer.Body.Length > 0
            ? PassedThroughXml.Rewrite(answer.Body, $"{context.Request.Scheme}://{context.Request.Host}/{origin.AccountName}/", showContainer)
            : answer.Body;
        BlobHeaders.Common(context);
        foreach ((string name, string value) in answer.Headers) context.Response.Headers[name] = value;
        context.Response.ContentLength = body.Length;
        if (!isHead && body.Length > 0) await context.Response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
    }

    private static string? UnsupportedBlobQuery(IQueryCollection query)
    {
        foreach (string name in (ReadOnlySpan<string>)["snapshot", "versionid", "restype"])
        {
            if (query.ContainsKey(name)) return name;
        }
        return query.TryGetValue("comp", out var comp) && comp.ToString() is not ("metadata" or "tags") ? "comp=" + comp : null;
    }

    internal static string? Optional(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private async Task HandleBlobAsync(HttpContext context, string container, string blob, bool isHead)
    {
        CancellationToken ct = context.RequestAborted;
        HttpRequest request = context.Request;
        if (request.Query.TryGetValue("comp", out var comp) && comp == "tags")
        {
            await PassThroughAsync(context, new PassThroughRead(PassThroughKind.BlobTags, container, blob), isHead).ConfigureAwait(false);
            return;
        }
        BlobAnswer propertiesOnly = comp == "metadata" ? BlobAnswer.Metadata : BlobAnswer.Properties;
        ReadConditions conditions = ReadConditions.From(request.Headers);
        // At most two passes: the second after learning that a cached ETag was stale.
        for (int pass = 0; pass < 2; pass++)
        {
            // A read of the bytes asks for them with the properties (one round trip for a one-chunk blob); a HEAD does not.
            BlobInfo? info = await metadata.GetAsync(container, blob, ct, forRead: !isHead && propertiesOnly == BlobAnswer.Properties).ConfigureAwait(false);
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
            if (isHead || propertiesOnly == BlobAnswer.Metadata)
            {
                BlobHeaders.Blob(context, info, propertiesOnly);
                context.Response.ContentLength = propertiesOnly == BlobAnswer.Metadata ? 0 : info.Length;
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
        // A read from the start is a stream only when it asks for a chunk or more (the SDKs' first GET of a download
        // is 4-32 MiB): a smaller one is a probe of a header, and if it is a stream after all its next read says so.
        return sequential || (range.Start == 0 && range.Length >= reader.ChunkSize);
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
