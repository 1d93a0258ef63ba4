using System.Net;
using BlobCache.Mesh.Reading;
using BlobCache.Node.Origin;
using BlobCache.Node.Reading;
using BlobCache.Node.Telemetry;
using BlobCache.Store;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Peers;

/// <summary>
/// How a peer's metadata request ended: <see cref="Answer"/> encoded (<see cref="PeerServeStatus.Ok"/>), with the blob's
/// bytes when asked for and here (<see cref="Content"/>: the transport sends it, then releases it), or why not, in words.
/// </summary>
public readonly record struct PeerMetadataOutcome(PeerServeStatus Status, string Message, byte[]? Answer, ChunkBuffer? Content = null, ReadSource ContentSource = default);

/// <summary>
/// The owner's side of a metadata request, whatever carries it: check the names, admit it under the same bounds as
/// chunk requests (--max-peer-requests, --peer-rate-limit), and answer from this node's own metadata path
/// (<see cref="BlobMetadataCache.AnswerPeerAsync"/>: its cache, its owners, or Blob). A request for a blob's bytes too
/// gets them from <paramref name="content"/> when the blob is one chunk, as <see cref="OneChunkBlob.Content"/> decides.
/// </summary>
public sealed class PeerMetadataServe(BlobMetadataCache metadata, PassThroughCache? passThrough, string account, PeerAdmission? admission, MetadataMetrics? metrics,
    ILogger logger, ChunkReader? content = null)
{
    /// <summary>
    /// Answers <paramref name="request"/>: a blob's properties (index <see cref="Tcp.TcpFrames.MetadataOfBlob"/>) or a
    /// passed-through read (<see cref="Tcp.TcpFrames.MetadataPassThrough"/>, its key in the etag field).
    /// </summary>
    public async ValueTask<PeerMetadataOutcome> ServeAsync(ChunkId request, bool direct, bool withContent, string from, IPAddress? address, CancellationToken cancellationToken)
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
            (ChunkBuffer Chunk, ReadSource Source)? bytes = null;
            if (read is null)
            {
                PeerMetadata answer = await metadata.AnswerPeerAsync(request.Container, request.Blob, direct, cancellationToken, withContent).ConfigureAwait(false);
                encoded = answer.Encode();
                if (encoded is not null && withContent) bytes = await ContentAsync(request, answer, direct, from, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                AgedAnswer<PassThroughResult> a = await passThrough!.AnswerPeerAsync(new PassThroughKey(request.ETag), direct, cancellationToken).ConfigureAwait(false);
                encoded = PeerPassThrough.Encode(a.Value, a.Age);
            }
            metrics?.ServedPeer();
            if (bytes is not null) metrics?.ServedContent();
            return encoded is not null ? new(PeerServeStatus.Ok, "", encoded, bytes?.Chunk, bytes?.Source ?? default) : new(PeerServeStatus.OriginFailed, "the answer does not fit a metadata answer", null);
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

    /// <summary>
    /// The bytes of the blob <paramref name="answer"/> describes, when it is one chunk and this node holds it or, asked
    /// as its owner (<paramref name="direct"/>), fills it; null otherwise, or when the fill failed (the properties still
    /// go, and the asker reads the chunk the usual way).
    /// </summary>
    private async ValueTask<(ChunkBuffer Chunk, ReadSource Source)?> ContentAsync(ChunkId request, PeerMetadata answer, bool direct, string from, CancellationToken cancellationToken)
    {
        if (content is null || answer is not { Kind: PeerMetadataKind.Found, Info: { } info }) return null;
        var id = new ChunkId(account, request.Container, request.Blob, info.ETag, 0);
        OwnerAction action = OneChunkBlob.Content(wanted: true, info.Length, content.ChunkSize, held: content.Store.Contains(id), direct);
        if (action is not (OwnerAction.Send or OwnerAction.Fill)) return null;
        try
        {
            return await content.ServePeerAsync(id, info.Length, fill: action == OwnerAction.Fill, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OriginException or BlobChangedException)
        {
            logger.LogDebug("the bytes of {Chunk} for {Peer} with its properties: {Message}", id, from, e.Message);
            return null;
        }
    }
}
