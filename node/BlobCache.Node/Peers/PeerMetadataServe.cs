using System.Net;
using BlobCache.Node.Endpoint;
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
public sealed class PeerMetadataServe(BlobMetadataCache metadata, string account, PeerAdmission? admission, MetadataMetrics? metrics, ILogger logger)
{
    public async ValueTask<PeerMetadataOutcome> ServeAsync(ChunkId blob, bool direct, string from, IPAddress? address, CancellationToken cancellationToken)
    {
        if (!string.Equals(blob.Account, account, StringComparison.Ordinal)) return new(PeerServeStatus.Invalid, $"account '{blob.Account}' is not this mesh's", null);
        if (!BlobNames.IsValidContainer(blob.Container) || !BlobNames.IsValidBlob(blob.Blob)) return new(PeerServeStatus.Invalid, "bad blob name", null);
        PeerRefusal refusal = admission?.TryEnter(address) ?? PeerRefusal.None;
        if (refusal != PeerRefusal.None) return new(PeerServeStatus.Refused, admission!.Describe(refusal), null);
        try
        {
            PeerMetadata answer = await metadata.AnswerPeerAsync(blob.Container, blob.Blob, direct, cancellationToken).ConfigureAwait(false);
            metrics?.ServedPeer();
            return answer.Encode() is { } encoded
                ? new(PeerServeStatus.Ok, "", encoded)
                : new(PeerServeStatus.OriginFailed, "the blob's properties do not fit a metadata answer", null);
        }
        catch (OriginException e)
        {
            logger.LogDebug("metadata of {Container}/{Blob} for {Peer} failed: {Message}", blob.Container, blob.Blob, from, e.Message);
            return new(PeerServeStatus.OriginFailed, e.Message, null);
        }
        finally
        {
            admission?.Exit();
        }
    }
}
