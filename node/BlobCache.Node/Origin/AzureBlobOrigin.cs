using Azure;
using Azure.Identity;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace BlobCache.Node.Origin;

/// <summary>
/// Azure Blob (or Azurite) through the Azure SDK. The origin is a connection string, a container SAS URL (one
/// container only) or a bare account URL (Azure.Identity's default credential, e.g. workload identity).
/// </summary>
public sealed partial class AzureBlobOrigin : IBlobOrigin, IOriginPassThrough
{
    private readonly BlobServiceClient? _service;
    private readonly BlobContainerClient? _onlyContainer;
    private readonly OriginRetry _retry;
    private readonly ServerBusyCounter _serverBusy;

    public string AccountName { get; }

    /// <summary>Attempts Blob refused as too busy (503 ServerBusy or 429), retried or not.</summary>
    public long ServerBusyResponses => _serverBusy.Refused;
    public string Describe { get; }

    private AzureBlobOrigin(BlobServiceClient? service, BlobContainerClient? onlyContainer, string describe, OriginRetry retry, ServerBusyCounter serverBusy)
    {
        _retry = retry;
        _serverBusy = serverBusy;
        _service = service;
        _onlyContainer = onlyContainer;
        AccountName = service?.AccountName ?? onlyContainer!.AccountName;
        Describe = describe;
    }

    /// <summary>Parses the origin setting. Throws <see cref="ArgumentException"/> with a message naming what is wrong.</summary>
    public static AzureBlobOrigin Create(string origin, OriginRetry? retry = null)
    {
        retry ??= OriginRetry.Default;
        var options = new BlobClientOptions();
        // Explicit, so a misbehaving Blob costs a known, bounded time: retries with exponential backoff, and one
        // timeout per attempt (it also bounds each read of a streamed body, which the SDK resumes where it broke).
        options.RetryPolicy = new Azure.Core.Pipeline.RetryPolicy(retry.MaxRetries, new OriginDelayStrategy(retry.Backoff));
        options.Retry.NetworkTimeout = retry.NetworkTimeout;
        var serverBusy = new ServerBusyCounter();
        options.AddPolicy(serverBusy, Azure.Core.HttpPipelinePosition.PerRetry);
        options.AddPolicy(new HeadErrorsHaveNoBody(), Azure.Core.HttpPipelinePosition.PerRetry);
        if (Uri.TryCreate(origin, UriKind.Absolute, out Uri? uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp))
        {
            bool hasSas = uri.Query.Contains("sig=", StringComparison.Ordinal);
            // Azurite's path-style URLs put the account first: http://host:port/account/container.
            string[] segments = uri.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
            bool pathStyle = uri.Host is "127.0.0.1" or "localhost" || uri.IsLoopback;
            int containerSegments = segments.Length - (pathStyle ? 1 : 0);
            if (hasSas && containerSegments == 1)
            {
                var container = new BlobContainerClient(uri, options);
                return new AzureBlobOrigin(null, container, $"container SAS {uri.GetLeftPart(UriPartial.Path)}", retry, serverBusy);
            }
            if (containerSegments > 0) throw new ArgumentException($"origin URL {uri.GetLeftPart(UriPartial.Path)} names a container but has no SAS token (sig=...)");
            if (hasSas) return new AzureBlobOrigin(new BlobServiceClient(uri, options), null, $"account SAS {uri.GetLeftPart(UriPartial.Path)}", retry, serverBusy);
            return new AzureBlobOrigin(new BlobServiceClient(uri, new DefaultAzureCredential(), options), null, $"account {uri.GetLeftPart(UriPartial.Path)} (default Azure credential)", retry, serverBusy);
        }
        if (!origin.Contains('=', StringComparison.Ordinal))
            throw new ArgumentException("origin is neither a URL nor a connection string (AccountName=...;AccountKey=...;BlobEndpoint=...)");
        BlobServiceClient service;
        try
        {
            service = new BlobServiceClient(origin, options);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
        {
            throw new ArgumentException($"origin connection string is not valid: {e.Message}");
        }
        return new AzureBlobOrigin(service, null, $"connection string for {service.Uri}", retry, serverBusy);
    }

    private BlobContainerClient Container(string container)
    {
        if (_onlyContainer is not null)
        {
            return string.Equals(container, _onlyContainer.Name, StringComparison.Ordinal)
                ? _onlyContainer
                : throw new OriginException(404, "ContainerNotFound", $"this node's origin is a SAS for container '{_onlyContainer.Name}' only");
        }
        return _service!.GetBlobContainerClient(container);
    }

    /// <summary>
    /// The client of exactly <paramref name="container"/>/<paramref name="blob"/>. The SDK builds a <see cref="Uri"/>
    /// from the name, which resolves "." and ".." segments and drops a leading '/': a name that would come out
    /// addressing anything else is refused here, whatever let it through before, rather than read as another blob.
    /// </summary>
    private BlobClient Blob(string container, string blob)
    {
        BlobContainerClient parent = Container(container);
        BlobClient client = parent.GetBlobClient(blob);
        if (!Addresses(parent.Uri, client.Uri, blob))
            throw new OriginException(400, "InvalidResourceName", $"the blob name '{blob}' cannot be sent to Blob as it is: its URI would address '{client.Uri.AbsolutePath}'");
        return client;
    }

    /// <summary>Whether <paramref name="blobUri"/> names blob <paramref name="name"/> in the container at <paramref name="containerUri"/>, and nothing else.</summary>
    private static bool Addresses(Uri containerUri, Uri blobUri, string name)
    {
        string container = Uri.UnescapeDataString(containerUri.AbsolutePath).TrimEnd('/');
        string path = Uri.UnescapeDataString(blobUri.AbsolutePath);
        return path.Length == container.Length + 1 + name.Length && path.StartsWith(container, StringComparison.Ordinal)
            && path[container.Length] == '/' && path.AsSpan(container.Length + 1).SequenceEqual(name);
    }

    public async Task<BlobInfo?> GetBlobAsync(string container, string blob, CancellationToken cancellationToken)
    {
        try
        {
            Response<BlobProperties> r = await Blob(container, blob).GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            BlobProperties p = r.Value;
            var details = new BlobDetails(p.ContentEncoding, p.ContentLanguage, p.CacheControl, p.ContentDisposition,
                p.Metadata is { Count: > 0 } m ? new Dictionary<string, string>(m, StringComparer.OrdinalIgnoreCase) : null,
                p.CreatedOn, p.AccessTier?.ToString(), p.AccessTierInferred, p.IsServerEncrypted);
            return new BlobInfo(p.ContentLength, p.ETag.ToString(), p.LastModified, p.ContentType ?? "application/octet-stream", p.ContentHash, details);
        }
        catch (RequestFailedException e) when (e.Status == 404 && e.ErrorCode != "ContainerNotFound")
        {
            return null;
        }
        catch (RequestFailedException e)
        {
            throw Wrap(e);
        }
        catch (Exception e) when (IsTransportFailure(e, cancellationToken))
        {
            throw Unreachable(e);
        }
    }

    public async Task ReadAsync(string container, string blob, string etag, long blobLength, long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var options = new BlobDownloadOptions
        {
            Range = new Azure.HttpRange(offset, destination.Length),
            Conditions = new BlobRequestConditions { IfMatch = new ETag(etag) },
        };
        try
        {
            Response<BlobDownloadStreamingResult> r = await Blob(container, blob)
                .DownloadStreamingAsync(options, cancellationToken).ConfigureAwait(false);
            await using Stream body = r.Value.Content;
            if (TotalOf(r.Value.Details.ContentRange) is long total && total != blobLength) throw new BlobChangedException(container, blob, etag);
            int filled = 0;
            while (filled < destination.Length)
            {
                int n = await body.ReadAsync(destination[filled..], cancellationToken).ConfigureAwait(false);
                if (n == 0) throw new OriginException(502, "ShortRead", $"{container}/{blob}: origin sent {filled} of {destination.Length} bytes at offset {offset}");
                filled += n;
            }
        }
        catch (RequestFailedException e) when (e.Status is 412 or 404)
        {
            throw new BlobChangedException(container, blob, etag);
        }
        catch (RequestFailedException e)
        {
            throw Wrap(e);
        }
        catch (Exception e) when (IsTransportFailure(e, cancellationToken))
        {
            throw Unreachable(e);
        }
    }

    /// <summary>The blob's whole length from a Content-Range ("bytes a-b/total"); null when Blob gave none or "*".</summary>
    internal static long? TotalOf(string? contentRange)
    {
        int slash = contentRange?.LastIndexOf('/') ?? -1;
        return slash >= 0 && long.TryParse(contentRange.AsSpan(slash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long total)
            ? total : null;
    }

    public async Task<ContainerInfo?> GetContainerAsync(string container, CancellationToken cancellationToken)
    {
        try
        {
            Response<BlobContainerProperties> r = await Container(container).GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            BlobContainerProperties p = r.Value;
            string? access = p.PublicAccess switch { PublicAccessType.Blob => "blob", PublicAccessType.BlobContainer => "container", _ => null };
            return new ContainerInfo(p.ETag.ToString(), p.LastModified, p.Metadata is { Count: > 0 } m ? new Dictionary<string, string>(m, StringComparer.OrdinalIgnoreCase) : null, access);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
        catch (RequestFailedException e) when (e.Status == 403 && _onlyContainer is not null)
        {
            // A container SAS cannot read the container's properties; answer with what we know.
            return new ContainerInfo("\"0x0\"", DateTimeOffset.UnixEpoch);
        }
        catch (RequestFailedException e)
        {
            throw Wrap(e);
        }
        catch (Exception e) when (IsTransportFailure(e, cancellationToken))
        {
            throw Unreachable(e);
        }
    }

    public async Task<ListPage?> ListAsync(string container, string? prefix, string? delimiter, string? marker, int? maxResults, CancellationToken cancellationToken)
    {
        BlobContainerClient client = Container(container);
        try
        {
            var items = new List<ListedBlob>();
            string? next = null;
            if (string.IsNullOrEmpty(delimiter))
            {
                await foreach (Page<BlobItem> page in client.GetBlobsAsync(BlobTraits.None, BlobStates.None, prefix, cancellationToken)
                    .AsPages(marker, maxResults).ConfigureAwait(false))
                {
                    foreach (BlobItem b in page.Values) items.Add(Listed(b));
                    next = page.ContinuationToken;
                    break;
                }
            }
            else
            {
                await foreach (Page<BlobHierarchyItem> page in client.GetBlobsByHierarchyAsync(BlobTraits.None, BlobStates.None, delimiter, prefix, cancellationToken)
                    .AsPages(marker, maxResults).ConfigureAwait(false))
                {
                    foreach (BlobHierarchyItem h in page.Values)
                        items.Add(h.IsPrefix ? new ListedBlob(h.Prefix, true, 0, null, null, null) : Listed(h.Blob));
                    next = page.ContinuationToken;
                    break;
                }
            }
            return new ListPage(items, string.IsNullOrEmpty(next) ? null : next);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
        catch (RequestFailedException e)
        {
            throw Wrap(e);
        }
        catch (Exception e) when (IsTransportFailure(e, cancellationToken))
        {
            throw Unreachable(e);
        }
    }

    private static ListedBlob Listed(BlobItem b)
    {
        BlobItemProperties p = b.Properties;
        var details = new BlobDetails(p.ContentEncoding, p.ContentLanguage, p.CacheControl, p.ContentDisposition, null, p.CreatedOn,
            p.AccessTier?.ToString(), p.AccessTierInferred, p.ServerEncrypted ?? true);
        return new(b.Name, false, p.ContentLength ?? 0, p.ETag?.ToString(), p.LastModified, p.ContentType, p.ContentHash, details);
    }

    public async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (_onlyContainer is not null)
                await _onlyContainer.GetBlobsAsync(BlobTraits.None, BlobStates.None, null, cancellationToken).AsPages(null, 1).GetAsyncEnumerator(cancellationToken).MoveNextAsync().ConfigureAwait(false);
            else
                await _service!.GetBlobContainersAsync(cancellationToken: cancellationToken).AsPages(null, 1).GetAsyncEnumerator(cancellationToken).MoveNextAsync().ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is RequestFailedException or IOException or HttpRequestException or OperationCanceledException or AggregateException)
        {
            return false;
        }
    }

    // What the SDK throws once its retries are spent on timeouts or broken connections (an AggregateException of
    // each attempt's error): not Blob's answer, so without this it escaped as an unexplained 500 with no body.
    private static bool IsTransportFailure(Exception e, CancellationToken cancellationToken) =>
        !cancellationToken.IsCancellationRequested && e is AggregateException or IOException or System.Net.Http.HttpRequestException or OperationCanceledException or TimeoutException;

    private OriginException Unreachable(Exception e)
    {
        bool timedOut = e is OperationCanceledException or TimeoutException
            || (e is AggregateException a && a.Flatten().InnerExceptions.Any(i => i is OperationCanceledException or TimeoutException));
        string tries = $"{_retry.MaxRetries + 1} attempts";
        return timedOut
            ? new OriginException(504, "OperationTimedOut", $"origin: no answer within {_retry.NetworkTimeout.TotalMilliseconds:F0} ms in {tries}", e)
            : new OriginException(502, "OriginUnreachable", $"origin: {FirstLine(e.Message)} ({tries})", e);
    }

    private static OriginException Wrap(RequestFailedException e) =>
        new(e.Status == 0 ? 502 : e.Status, string.IsNullOrEmpty(e.ErrorCode) ? "OriginError" : e.ErrorCode, $"origin: {FirstLine(e.Message)}", e);

    private static string FirstLine(string s)
    {
        int nl = s.IndexOf('\n', StringComparison.Ordinal);
        return (nl < 0 ? s : s[..nl]).Trim();
    }
}
