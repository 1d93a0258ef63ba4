using System.Net;
using BlobCache.Node.Origin;
using BlobCache.Node.Reading;
using BlobCache.Node.Telemetry;
using BlobCache.Store;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Peers;

/// <summary>How a peer's metadata request ended: <see cref="Answer"/> encoded (<see cref="PeerServeStatus.Ok"/>), or why not, in words.</summary>
public readonly record struct PeerMetadataOutcome(PeerServeStatus Status, string Message, byte[]? Answer);

/// <summary>
/// The owner's side of a metadata request, whatever carries it: check the names, admit it under the same bounds as
/// chunk requests (--max-peer-requests, --peer-rate-limit), and answer from this node's own metadata path
/// (<see cref="BlobMetadataCache.AnswerPeerAsync"/>: its cache, its owners, or Blob).
/// </summary>
public sealed class PeerMetadataServe(BlobMetadataCache metadata, PassThroughCache? passThrough, string account, PeerAdmission? admission, MetadataMetrics? metrics,
    ILogger logger)
{
    /// <summary>
    /// Answers <paramref name="request"/>: a blob's properties (index <see cref="Tcp.TcpFrames.MetadataOfBlob"/>) or a
    /// passed-through read (<see cref="Tcp.TcpFrames.MetadataPassThrough"/>, its key in the etag field).
    /// </summary>
    public async ValueTask<PeerMetadataOutcome> ServeAsync(ChunkId request, bool direct, string from, IPAddress? address, CancellationToken cancellationToken)
    {
        PassThroughRead? read = null;
        if (request.Index == Tcp.TcpFrames.MetadataPassThrough)
        {
            if (PeerRequest.ValidateAccount(account, request.Account) is { } wrongAccount) return new(PeerServeStatus.Invalid, wrongAccount, null);
            if (passThrough is null) return new(PeerServeStatus.Invalid, "this node's origin passes no reads through", null);
            if ((read = PassThroughKey.TryParse(request.ETag, out string? error)) is null) return new(PeerServeStatus.Invalid, $"a passed-through read with {error}", null);
        }
        else if (PeerRequest.ValidateBlob(account, request) is { } invalid)
        {
            return new(PeerServeStatus.Invalid, invalid, null);
        }
        PeerRefusal refusal = admission?.TryEnter(address) ?? PeerRefusal.None;
        if (refusal != PeerRefusal.None) return new(PeerServeStatus.Refused, admission!.Describe(refusal), null);
        try
        {
            byte[]? encoded;
            if (read is null)
            {
                encoded = (await metadata.AnswerPeerAsync(request.Container, request.Blob, direct, cancellationToken).ConfigureAwait(false)).Encode();
            }
            else
            {
                AgedAnswer<PassThroughResult> a = await passThrough!.AnswerPeerAsync(new PassThroughKey(request.ETag), direct, cancellationToken).ConfigureAwait(false);
                encoded = PeerPassThrough.Encode(a.Value, a.Age);
            }
            metrics?.ServedPeer();
            return encoded is not null ? new(PeerServeStatus.Ok, "", encoded) : new(PeerServeStatus.OriginFailed, "the answer does not fit a metadata answer", null);
        }
        catch (OriginException e) when (e.Status is 503 or 429)
        {
            // Throttled past this node's retries: the asker comes back to this owner later, not to Blob itself.
            return new(PeerServeStatus.Busy, e.Message, null);
        }
        catch (PeerThrottledException e)
        {
            // This node asked the owner for the asker, and Blob throttles the owner: the asker backs off and asks it.
            return new(PeerServeStatus.Busy, e.Message, null);
        }
        catch (OriginException e)
        {
            logger.LogDebug("metadata request {Request} for {Peer} failed: {Message}", request, from, e.Message);
            return new(PeerServeStatus.OriginFailed, e.Message, null);
        }
        finally
        {
            admission?.Exit();
        }
    }
}
