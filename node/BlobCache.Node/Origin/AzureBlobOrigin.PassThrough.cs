using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace BlobCache.Node.Origin;

/// <summary>The read-only operations passed through: the SDK's call, and Blob's raw answer to it.</summary>
public sealed partial class AzureBlobOrigin
{
    // Set by the node itself for every answer, or describe the connection rather than the resource.
    private static readonly HashSet<string> NotPassedOn = new(StringComparer.OrdinalIgnoreCase)
    {
        "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Date", "Server", "x-ms-request-id", "x-ms-version", "x-ms-client-request-id",
    };

    public async Task<PassThroughAnswer> PassThroughAsync(PassThroughRead read, CancellationToken cancellationToken)
    {
        try
        {
            Response raw = read.Kind switch
            {
                PassThroughKind.ListContainers => await FirstPageAsync(Service().GetBlobContainersAsync(ContainerTraits(read.Include), BlobContainerStates.None, read.Prefix, cancellationToken), read, cancellationToken).ConfigureAwait(false),
                PassThroughKind.AccountInformation => (await Service().GetAccountInfoAsync(cancellationToken).ConfigureAwait(false)).GetRawResponse(),
                PassThroughKind.ServiceProperties => (await Service().GetPropertiesAsync(cancellationToken).ConfigureAwait(false)).GetRawResponse(),
                PassThroughKind.ListBlobs => await ListBlobsAsync(read, cancellationToken).ConfigureAwait(false),
                PassThroughKind.ContainerAcl => (await Container(read.Container!).GetAccessPolicyAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).GetRawResponse(),
                PassThroughKind.BlobTags => (await Blob(read.Container!, read.Blob!).GetTagsAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).GetRawResponse(),
                PassThroughKind.ContainerProperties => (await Container(read.Container!).GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).GetRawResponse(),
                _ => throw new ArgumentOutOfRangeException(nameof(read)),
            };
            var headers = new List<KeyValuePair<string, string>>();
            foreach (Azure.Core.HttpHeader h in raw.Headers)
            {
                if (!NotPassedOn.Contains(h.Name)) headers.Add(KeyValuePair.Create(h.Name, h.Value));
            }
            return new PassThroughAnswer(headers, raw.Content.ToArray());
        }
        catch (RequestFailedException e) when (e.Status == 403 && read.Kind == PassThroughKind.ContainerProperties && _onlyContainer is not null)
        {
            // A container SAS cannot read the container's properties; answer with what we know.
            return new PassThroughAnswer([KeyValuePair.Create("ETag", "\"0x0\""), KeyValuePair.Create("Last-Modified", BlobInfo.HttpDate(DateTimeOffset.UnixEpoch))], []);
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

    private BlobServiceClient Service() => _service
        ?? throw new OriginException(403, "AuthorizationResourceTypeMismatch", "this node's origin is a container SAS: it cannot answer account-level requests");

    private Task<Response> ListBlobsAsync(PassThroughRead read, CancellationToken cancellationToken)
    {
        BlobContainerClient client = Container(read.Container!);
        (BlobTraits traits, BlobStates states) = BlobIncludes(read.Include);
        return string.IsNullOrEmpty(read.Delimiter)
            ? FirstPageAsync(client.GetBlobsAsync(traits, states, read.Prefix, cancellationToken), read, cancellationToken)
            : FirstPageAsync(client.GetBlobsByHierarchyAsync(traits, states, read.Delimiter, read.Prefix, cancellationToken), read, cancellationToken);
    }

    private static async Task<Response> FirstPageAsync<T>(AsyncPageable<T> pages, PassThroughRead read, CancellationToken cancellationToken) where T : notnull
    {
        await foreach (Page<T> page in pages.AsPages(read.Marker, read.MaxResults).WithCancellation(cancellationToken).ConfigureAwait(false))
            return page.GetRawResponse();
        throw new OriginException(502, "OriginError", "origin: the listing had no page");
    }

    private static BlobContainerTraits ContainerTraits(IReadOnlyList<string>? include)
    {
        var traits = BlobContainerTraits.None;
        foreach (string i in include ?? [])
        {
            traits |= i.Equals("metadata", StringComparison.OrdinalIgnoreCase) ? BlobContainerTraits.Metadata : throw Unsupported(i);
        }
        return traits;
    }

    private static (BlobTraits, BlobStates) BlobIncludes(IReadOnlyList<string>? include)
    {
        var traits = BlobTraits.None;
        var states = BlobStates.None;
        foreach (string i in include ?? [])
        {
            switch (i.ToLowerInvariant())
            {
                case "metadata": traits |= BlobTraits.Metadata; break;
                case "tags": traits |= BlobTraits.Tags; break;
                case "copy": traits |= BlobTraits.CopyStatus; break;
                case "immutabilitypolicy": traits |= BlobTraits.ImmutabilityPolicy; break;
                case "legalhold": traits |= BlobTraits.LegalHold; break;
                case "snapshots": states |= BlobStates.Snapshots; break;
                case "versions": states |= BlobStates.Version; break;
                case "deleted": states |= BlobStates.Deleted; break;
                case "uncommittedblobs": states |= BlobStates.Uncommitted; break;
                default: throw Unsupported(i);
            }
        }
        return (traits, states);
    }

    private static OriginException Unsupported(string include) =>
        new(400, "InvalidQueryParameterValue", $"'{include}' is not a value include= takes here");
}
