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
/// serve or fill it (<see cref="PeerServe"/>), take a send slot for it or answer busy with holders
/// (<see cref="PeerSends"/>), and return the outcome. A transport decodes the request, encodes the outcome, and
/// then calls <see cref="Finish"/>, which releases the chunk and its send slot, counts it served if it was delivered
/// and ends the request's admission.
/// </summary>
public sealed class PeerChunkHandler(ChunkReader reader, BlobMetadataCache metadata, string account, NodeMetrics metrics, PeerAdmission? admission, PeerSends? sends,
    ILogger logger)
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
            PeerServeOutcome read = await _serve.ReadAsync(request.Id, request.BlobLength, request.Fill, request.From, cancellationToken).ConfigureAwait(false);
            if (read.Chunk is not { } chunk || request.WarmOnly || sends is null || sends.TryBeginSend()) return read;
            // Every send slot is taken: the requester asks the members this node last sent the chunk to.
            chunk.Release();
            metrics.PeerBusyAnswer();
            return new(PeerServeStatus.Busy, $"busy: {sends.MaxSending} chunks being sent (--max-peer-sends)", null, default, sends.HoldersOf(request.Id.Hash, request.From));
        }
        catch
        {
            Leave();
            throw;
        }
    }

    /// <summary>
    /// Ends <paramref name="request"/>, which <see cref="ServeAsync{TState}"/> answered: releases its chunk and send
    /// slot, counts it served when <paramref name="delivered"/> (the whole chunk went out; a warm-up delivers none),
    /// so its requester is named as a holder from then on, and ends its admission.
    /// </summary>
    public void Finish(in PeerChunkRequest request, in PeerServeOutcome outcome, bool delivered)
    {
        if (outcome.Status is PeerServeStatus.Invalid or PeerServeStatus.Refused) return;
        if (outcome.Chunk is { } chunk)
        {
            chunk.Release();
            if (delivered) metrics.PeerServed();
            if (!request.WarmOnly) sends?.EndSend(request.Id.Hash, request.From, delivered);
        }
        Leave();
    }

    private void Leave()
    {
        metrics.PeerServeEnded();
        admission?.Exit();
    }
}
