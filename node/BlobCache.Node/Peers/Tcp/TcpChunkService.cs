using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using BlobCache.Node.Origin;
using BlobCache.Node.Reading;
using BlobCache.Node.Telemetry;
using BlobCache.Store;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Peers.Tcp;

/// <summary>
/// The owner's side of the framed-TCP chunk transport (<see cref="TcpFrames"/>): Kestrel connection middleware on the
/// gRPC port. A connection that opens with the magic is served here, one request after another; any other
/// connection passes on untouched to HTTP/2 (gRPC). The chunk goes out in one write from its pooled buffer.
/// </summary>
public sealed class TcpChunkService(ChunkReader reader, IBlobOrigin origin, NodeMetrics metrics, PeerAdmission admission, ILogger logger)
{
    public ConnectionDelegate Middleware(ConnectionDelegate next) => async connection =>
    {
        PipeReader input = connection.Transport.Input;
        bool ours;
        try
        {
            ReadResult r = await input.ReadAtLeastAsync(TcpFrames.Magic.Length, connection.ConnectionClosed).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = r.Buffer;
            ours = IsOurs(buffer);
            // Not ours: nothing consumed, so HTTP/2 reads its preface itself.
            input.AdvanceTo(ours ? buffer.GetPosition(TcpFrames.Magic.Length) : buffer.Start);
            if (ours) await ServeConnectionAsync(connection).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ConnectionResetException)
        {
            // the requester went away (or gave up on a slow fill); its client counts the failure
            return;
        }
        if (!ours) await next(connection).ConfigureAwait(false);
    };

    private static bool IsOurs(ReadOnlySequence<byte> buffer)
    {
        if (buffer.Length < TcpFrames.Magic.Length) return false;
        Span<byte> head = stackalloc byte[4];
        buffer.Slice(0, TcpFrames.Magic.Length).CopyTo(head);
        return head.SequenceEqual(TcpFrames.Magic);
    }

    /// <summary>
    /// Where answers go. Kestrel's socket transport lends its socket: requests still come through Kestrel's input
    /// pipe, but answers go straight to the socket (Kestrel's sender stays idle, as nothing is written to its
    /// pipe), which saves copying each chunk into the pipe's 4 KiB blocks. Other transports, and every connection
    /// under TLS (the socket carries ciphertext), get the pipe.
    /// </summary>
    private sealed class Answers(Socket? socket, PipeWriter pipe)
    {
        private readonly byte[] _header = new byte[TcpFrames.AnswerBytes + TcpFrames.MaxErrorBytes];

        public Span<byte> Header => _header;

        public async ValueTask SendAsync(int headerBytes, ReadOnlyMemory<byte> body, CancellationToken ct)
        {
            if (socket is null)
            {
                pipe.Write(_header.AsSpan(0, headerBytes));
                await pipe.WriteAsync(body, ct).ConfigureAwait(false);
                return;
            }
            await socket.SendAsync(_header.AsMemory(0, headerBytes), SocketFlags.None, ct).ConfigureAwait(false);
            if (!body.IsEmpty) await socket.SendAsync(body, SocketFlags.None, ct).ConfigureAwait(false);
        }
    }

    private async Task ServeConnectionAsync(ConnectionContext connection)
    {
        PipeReader input = connection.Transport.Input;
        Socket? raw = connection.Features.Get<ITlsHandshakeFeature>() is null ? connection.Features.Get<IConnectionSocketFeature>()?.Socket : null;
        var output = new Answers(raw, connection.Transport.Output);
        CancellationToken closed = connection.ConnectionClosed;
        while (true)
        {
            ReadResult r = await input.ReadAsync(closed).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = r.Buffer;
            if (TcpFrames.TryReadRequest(ref buffer, out TcpFetch? fetch, out string? error))
            {
                input.AdvanceTo(buffer.Start);
                await AdmitAndServeAsync(fetch!, output, (connection.RemoteEndPoint as System.Net.IPEndPoint)?.Address, closed).ConfigureAwait(false);
                continue;
            }
            if (error is not null)
            {
                logger.LogWarning("tcp chunk transport: closing {Remote}: {Error}", connection.RemoteEndPoint, error);
                return;
            }
            if (r.IsCompleted) return;
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private async Task AdmitAndServeAsync(TcpFetch fetch, Answers output, System.Net.IPAddress? from, CancellationToken closed)
    {
        PeerRefusal refusal = admission.TryEnter(from);
        if (refusal != PeerRefusal.None)
        {
            output.Header[0] = TcpFrames.Accepted;
            await output.SendAsync(1, default, closed).ConfigureAwait(false);
            await ErrorAsync(output, TcpStatus.Refused, admission.Describe(refusal), closed).ConfigureAwait(false);
            return;
        }
        try
        {
            await ServeAsync(fetch, output, closed).ConfigureAwait(false);
        }
        finally
        {
            admission.Exit();
        }
    }

    private async Task ServeAsync(TcpFetch fetch, Answers output, CancellationToken closed)
    {
        metrics.PeerServeBegan();
        try
        {
            output.Header[0] = TcpFrames.Accepted;
            await output.SendAsync(1, default, closed).ConfigureAwait(false);
            string? invalid = PeerRequest.Validate(origin.AccountName, fetch.Id, fetch.BlobLength, reader.ChunkSize);
            if (invalid is not null)
            {
                await ErrorAsync(output, TcpStatus.Invalid, invalid, closed).ConfigureAwait(false);
                return;
            }
            (ChunkBuffer Chunk, ReadSource Source)? served;
            try
            {
                served = await reader.ServePeerAsync(fetch.Id, fetch.BlobLength, fetch.Fill, closed).ConfigureAwait(false);
            }
            catch (BlobChangedException e)
            {
                await ErrorAsync(output, TcpStatus.BlobChanged, e.Message, closed).ConfigureAwait(false);
                return;
            }
            catch (OriginException e)
            {
                logger.LogWarning("origin failed filling {Chunk} for {Peer}: {Message}", fetch.Id, fetch.From, e.Message);
                await ErrorAsync(output, TcpStatus.OriginFailed, e.Message, closed).ConfigureAwait(false);
                return;
            }
            if (served is not { } s)
            {
                metrics.PeerServeMiss();
                await ErrorAsync(output, TcpStatus.NotFound, "not cached here", closed).ConfigureAwait(false);
                return;
            }
            ChunkBuffer chunk = s.Chunk;
            try
            {
                byte source = s.Source switch { ReadSource.Memory => 0, ReadSource.Disk => 1, _ => 2 };
                TcpFrames.WriteAnswer(output.Header, TcpStatus.Ok, source, chunk.Length, chunk.Checksum);
                await output.SendAsync(TcpFrames.AnswerBytes, fetch.WarmOnly ? default : chunk.Memory, closed).ConfigureAwait(false);
                if (!fetch.WarmOnly) metrics.PeerServed();
            }
            finally
            {
                chunk.Release();
            }
        }
        finally
        {
            metrics.PeerServeEnded();
        }
    }

    private static ValueTask ErrorAsync(Answers output, TcpStatus status, string message, CancellationToken closed)
    {
        // At most 4 UTF-8 bytes a char: the text fits the header buffer.
        string text = message.Length > TcpFrames.MaxErrorBytes / 4 ? message[..(TcpFrames.MaxErrorBytes / 4)] : message;
        int n = Encoding.UTF8.GetBytes(text, output.Header[TcpFrames.AnswerBytes..]);
        TcpFrames.WriteAnswer(output.Header, status, 0, n, 0);
        return output.SendAsync(TcpFrames.AnswerBytes + n, default, closed);
    }
}
