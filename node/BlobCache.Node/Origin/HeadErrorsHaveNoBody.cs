using Azure.Core;
using Azure.Core.Pipeline;

namespace BlobCache.Node.Origin;

/// <summary>
/// A HEAD answer carries no body, whatever its Content-Type and Content-Length say (they describe the GET's). The SDK
/// reads an error answer's XML body for its code, so a refused HEAD (a throttled Get Blob Properties) would fail with
/// "Root element is missing" instead of a 503 with Blob's code: the node would answer 500, and its peers could not
/// tell a throttled owner from a broken one. Without a body the SDK takes the code from x-ms-error-code.
/// </summary>
internal sealed class HeadErrorsHaveNoBody : HttpPipelineSynchronousPolicy
{
    public override void OnReceivedResponse(HttpMessage message)
    {
        if (message.Request.Method == RequestMethod.Head && message.Response.Status >= 400) message.Response.ContentStream = null;
    }
}
