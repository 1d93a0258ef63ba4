using Azure.Core;
using Azure.Core.Pipeline;

namespace BlobCache.Node.Origin;

/// <summary>
/// Counts every attempt Blob refused as too busy (503 ServerBusy, 429) before the SDK's retry decides to wait and
/// try again: the requests a fleet lost to the account's limits, which the final outcome alone does not show.
/// </summary>
internal sealed class ServerBusyCounter : HttpPipelineSynchronousPolicy
{
    private long _refused;

    public long Refused => Volatile.Read(ref _refused);

    public override void OnReceivedResponse(HttpMessage message)
    {
        if (message.Response.Status is 503 or 429) Interlocked.Increment(ref _refused);
    }
}
