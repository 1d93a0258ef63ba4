using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using BlobCache.Node.Origin;
using BlobCache.Node.Reading;
using BlobCache.Node.Security;
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
public sealed class TcpChunkService(ChunkReader reader, BlobMetadataCache metadata, IBlobOrigin origin, NodeMetrics metrics, PeerAdmission admission, PeerSends? sends,
    PeerTls? tls, ILogger logger, MetadataMetrics? metadataMetrics = null, PassThroughCache? passThrough = null)
{
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(5);
    /// <summary>TLS records gathered per send under TLS: eight 16 KiB records, one buffer per connection.</summary>
    private const int WriteBatchBytes = 128 * 1024;
    private readonly PeerChunkHandler _handler = new(reader, metadata, origin.AccountName, metrics, admission, sends, logger);
    private readonly PeerMetadataServe _metadata = new(metadata, passThrough, origin.AccountName, admission, metadataMetrics, logger, reader);

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
            if (ours && tls is null) await ServePlainAsync(connection).ConfigureAwait(false);
            else if (ours) await ServeTlsAsync(connection, tls!).ConfigureAwait(false);
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
    private sealed class Answers(Socket? socket, Stream? stream, PipeWriter? pipe)
    {
        private readonly byte[] _header = new byte[TcpFrames.AnswerBytes + TcpFrames.MaxErrorBytes];

        public Span<byte> Header => _header;

        public async ValueTask SendAsync(int headerBytes, ReadOnlyMemory<byte> body, CancellationToken ct)
        {
            if (stream is not null)
            {
                await stream.WriteAsync(_header.AsMemory(0, headerBytes), ct).ConfigureAwait(false);
                if (!body.IsEmpty) await stream.WriteAsync(body, ct).ConfigureAwait(false);
                await stream.FlushAsync(ct).ConfigureAwait(false);
                return;
            }
            if (socket is null)
            {
                pipe!.Write(_header.AsSpan(0, headerBytes));
                await pipe!.WriteAsync(body, ct).ConfigureAwait(false);
                return;
            }
            await socket.SendAsync(_header.AsMemory(0, headerBytes), SocketFlags.None, ct).ConfigureAwait(false);
            if (!body.IsEmpty) await socket.SendAsync(body, SocketFlags.None, ct).ConfigureAwait(false);
        }
    }

    private Task ServePlainAsync(ConnectionContext connection) =>
        ServeConnectionAsync(connection, connection.Transport.Input,
            new Answers(connection.Features.Get<IConnectionSocketFeature>()?.Socket, null, connection.Transport.Output));

    /// <summary>
    /// Mutual TLS after the magic, with this node's certificate, and a client certificate required and checked
    /// against the mesh CA, as on gRPC. Our own TLS layer rather than Kestrel's: through Kestrel's, whose output pipe
    /// holds 4 KiB blocks, the transport moved a quarter of its plain rate; this writes a chunk in full 16 KiB
    /// records, batched into large sends (<see cref="TlsRecordBatching"/>), straight to the socket.
    /// </summary>
    private async Task ServeTlsAsync(ConnectionContext connection, PeerTls peerTls)
    {
        Socket? socket = connection.Features.Get<IConnectionSocketFeature>()?.Socket;
        // Reads keep coming through Kestrel's input pipe (it may already hold the first handshake bytes).
        // Kestrel's input pipe buffers already: no read-ahead on top of it.
        var inner = new TlsRecordBatching(connection.Transport.Input.AsStream(leaveOpen: true),
            socket is null ? connection.Transport.Output.AsStream(leaveOpen: true) : new NetworkStream(socket, ownsSocket: false), 0, WriteBatchBytes);
        await using var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed))
        {
            handshake.CancelAfter(HandshakeTimeout);
            try
            {
                await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificate = peerTls.Certificate,
                    ClientCertificateRequired = true,
                    CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                    RemoteCertificateValidationCallback = (_, certificate, _, _) => peerTls.ValidateClient(certificate as X509Certificate2),
                }, handshake.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException or ConnectionResetException)
            {
                peerTls.HandshakeFailed();
                return;
            }
        }
        inner.BatchWrites = true;
        PipeReader input = PipeReader.Create(ssl, new StreamPipeReaderOptions(leaveOpen: true));
        try
        {
            await ServeConnectionAsync(connection, input, new Answers(null, ssl, null)).ConfigureAwait(false);
        }
        finally
        {
            await input.CompleteAsync().ConfigureAwait(false);
        }
    }

    private async Task ServeConnectionAsync(ConnectionContext connection, PipeReader input, Answers output)
    {
        CancellationToken closed = connection.ConnectionClosed;
        // A stopping server asks its connections to close; between requests this one does so at once (a transfer
        // under way finishes first). Without it a requester's idle pooled connection held the node's graceful
        // stop for Kestrel's whole shutdown timeout.
        CancellationToken closing = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? CancellationToken.None;
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(closed, closing);
        while (true)
        {
            if (closing.IsCancellationRequested) return;
            ReadResult r = await input.ReadAsync(idle.Token).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = r.Buffer;
            if (TcpFrames.TryReadRequest(ref buffer, out TcpFetch? fetch, out string? error))
            {
                input.AdvanceTo(buffer.Start);
                System.Net.IPAddress? address = (connection.RemoteEndPoint as System.Net.IPEndPoint)?.Address;
                if (fetch!.Metadata) await ServeMetadataAsync(fetch, output, address, closed).ConfigureAwait(false);
                else await ServeAsync(fetch, output, address, closed).ConfigureAwait(false);
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

    private async Task ServeAsync(TcpFetch fetch, Answers output, System.Net.IPAddress? from, CancellationToken closed)
    {
        var request = new PeerChunkRequest(fetch.Id, fetch.BlobLength, fetch.Fill, fetch.WarmOnly, fetch.From);
        PeerServeOutcome s = await _handler.ServeAsync(request, from,
            static a => SendAcceptedAsync(a.Output, a.Closed), (Output: output, Closed: closed), closed).ConfigureAwait(false);
        bool delivered = false;
        try
        {
            // The requester reads "accepted" before every answer; a request the pipeline turned away has not had it.
            if (s.Status is PeerServeStatus.Invalid or PeerServeStatus.Refused) await SendAcceptedAsync(output, closed).ConfigureAwait(false);
            if (s.Status == PeerServeStatus.Busy)
            {
                int n = s.Holders.Encode(output.Header[TcpFrames.AnswerBytes..]);
                TcpFrames.WriteAnswer(output.Header, TcpStatus.Busy, 0, n, 0);
                await output.SendAsync(TcpFrames.AnswerBytes + n, default, closed).ConfigureAwait(false);
                return;
            }
            if (s.Chunk is not { } chunk)
            {
                await ErrorAsync(output, StatusOf(s.Status), s.Message, closed).ConfigureAwait(false);
                return;
            }
            TcpFrames.WriteAnswer(output.Header, TcpStatus.Ok, s.SourceCode, chunk.Length, chunk.Checksum);
            await output.SendAsync(TcpFrames.AnswerBytes, fetch.WarmOnly ? default : chunk.Memory, closed).ConfigureAwait(false);
            delivered = !fetch.WarmOnly;
        }
        finally
        {
            _handler.Finish(request, s, delivered);
        }
    }

    private async Task ServeMetadataAsync(TcpFetch fetch, Answers output, System.Net.IPAddress? from, CancellationToken closed)
    {
        // Accepted at once, as for chunks: the requester's answer timeout covers only a peer that does not talk.
        await SendAcceptedAsync(output, closed).ConfigureAwait(false);
        PeerMetadataOutcome m = await _metadata.ServeAsync(fetch.Id, fetch.Direct, fetch.Content, fetch.From, from, closed).ConfigureAwait(false);
        if (m.Status == PeerServeStatus.Busy)
        {
            // No holders: a metadata owner's "busy" says Blob is throttling it (MetadataRoute.OnThrottled).
            int n = default(PeerHolders).Encode(output.Header[TcpFrames.AnswerBytes..]);
            TcpFrames.WriteAnswer(output.Header, TcpStatus.Busy, 0, n, 0);
            await output.SendAsync(TcpFrames.AnswerBytes + n, default, closed).ConfigureAwait(false);
            return;
        }
        if (m.Answer is not { } answer)
        {
            await ErrorAsync(output, StatusOf(m.Status), m.Message, closed).ConfigureAwait(false);
            return;
        }
        try
        {
            TcpFrames.WriteAnswer(output.Header, TcpStatus.Ok, 0, answer.Length, System.IO.Hashing.XxHash3.HashToUInt64(answer));
            await output.SendAsync(TcpFrames.AnswerBytes, answer, closed).ConfigureAwait(false);
            if (!fetch.Content) return;
            // The blob's bytes, or a second answer that says none come.
            if (m.Content is { } chunk) TcpFrames.WriteAnswer(output.Header, TcpStatus.Ok, PeerServeOutcome.CodeOf(m.ContentSource), chunk.Length, chunk.Checksum);
            else TcpFrames.WriteAnswer(output.Header, TcpStatus.NotFound, 0, 0, 0);
            await output.SendAsync(TcpFrames.AnswerBytes, m.Content?.Memory ?? default, closed).ConfigureAwait(false);
        }
        finally
        {
            m.Content?.Release();
        }
    }

    private static ValueTask SendAcceptedAsync(Answers output, CancellationToken closed)
    {
        output.Header[0] = TcpFrames.Accepted;
        return output.SendAsync(1, default, closed);
    }

    private static TcpStatus StatusOf(PeerServeStatus status) => status switch
    {
        PeerServeStatus.Invalid => TcpStatus.Invalid,
        PeerServeStatus.Refused => TcpStatus.Refused,
        PeerServeStatus.BlobChanged => TcpStatus.BlobChanged,
        PeerServeStatus.OriginFailed => TcpStatus.OriginFailed,
        _ => TcpStatus.NotFound,
    };

    private static ValueTask ErrorAsync(Answers output, TcpStatus status, string message, CancellationToken closed)
    {
        // At most 4 UTF-8 bytes a char: the text fits the header buffer.
        string text = message.Length > TcpFrames.MaxErrorBytes / 4 ? message[..(TcpFrames.MaxErrorBytes / 4)] : message;
        int n = Encoding.UTF8.GetBytes(text, output.Header[TcpFrames.AnswerBytes..]);
        TcpFrames.WriteAnswer(output.Header, status, 0, n, 0);
        return output.SendAsync(TcpFrames.AnswerBytes + n, default, closed);
    }
}
