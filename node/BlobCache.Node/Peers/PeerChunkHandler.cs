using System.Net;
using BlobCache.Node.Reading;
using BlobCache.Node.Telemetry;
using BlobCache.Store;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Peers;

/// <summary>A peer's chunk request as every transport decodes it.</summary>
public readonly record struct PeerChunkRequest(ChunkId Id, long BlobLength, bool Fill, bool WarmOnly, string From);

/// <summary>
/// The owner's one pipeline for a peer's chunk request, whatever the transport: check the request
/// (<see cref="PeerRequest"/>), admit it (<see cref="PeerAdmission"/>), count it, tell the requester it was accepted,
/// serve or fill it (<see cref="PeerServe"/>) and return the outcome. A transport decodes the request, encodes the
/// outcome, and then calls <see cref="Finish"/>, which releases the chunk, counts it served if it was delivered and
/// ends the request's admission.
/// </summary>
public sealed class PeerChunkHandler(ChunkReader reader, BlobMetadataCache metadata, string account, NodeMetrics metrics, PeerAdmission? admission, ILogger logger)
{
    private readonly PeerServe _serve = new(reader, metadata, metrics, logger);

    /// <summary>
    /// Serves <paramref name="request"/> from <paramref name="from"/>. Once the request is admitted and before anything
    /// is read or filled, <paramref name="accepted"/> runs with <paramref name="state"/> (the transport's "accepted"
    /// answer, which keeps the requester waiting through a fill). <see cref="PeerServeStatus.Invalid"/> and
    /// <see cref="PeerServeStatus.Refused"/> come back without it. Every outcome goes to <see cref="Finish"/>.
    /// </summary>
    public async ValueTask<PeerServeOutcome> ServeAsync<TState>(PeerChunkRequest request, IPAddress? from, Func<TState, ValueTask> accepted, TState state,
        CancellationToken cancellationToken)
    {
        if (PeerRequest.Validate(account, request.Id, request.BlobLength, reader.ChunkSize) is { } invalid) return new(PeerServeStatus.Invalid, invalid, null, default);
        PeerRefusal refusal = admission?.TryEnter(from) ?? PeerRefusal.None;
        if (refusal != PeerRefusal.None) return new(PeerServeStatus.Refused, admission!.Describe(refusal), null, default);
        metrics.PeerServeBegan();
        try
        {
            await accepted(state).ConfigureAwait(false);
            return await _serve.ReadAsync(request.Id, request.BlobLength, request.Fill, request.From, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Leave();
            throw;
        }
    }

    /// <summary>
    /// Ends a request <see cref="ServeAsync{TState}"/> answered: releases its chunk, counts it served when
    /// <paramref name="delivered"/> (the whole chunk went out; a warm-up delivers none) and ends its admission.
    /// </summary>
    public void Finish(in PeerServeOutcome outcome, bool delivered)
    {
        if (outcome.Status is PeerServeStatus.Invalid or PeerServeStatus.Refused) return;
        if (outcome.Chunk is { } chunk)
        {
            chunk.Release();
            if (delivered) metrics.PeerServed();
        }
        Leave();
    }

    private void Leave()
    {
        metrics.PeerServeEnded();
        admission?.Exit();
    }
}
