using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using BlobCache.Node.Peers.Grpc;
using BlobCache.Node.Security;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;
using global::Grpc.Core;
using global::Grpc.Net.Client;

namespace BlobCache.Node.Peers;

/// <summary>
/// Requester side of gRPC chunk transfer: one HTTP/2 channel per peer, pieces copied into one pooled buffer. With
/// <paramref name="tls"/> the channels are mutual TLS: this node presents its certificate and accepts only servers
/// whose certificate the mesh CA signed; after the files are reloaded, new channels are opened with the new material.
/// </summary>
public sealed class GrpcChunkPeerClient(string selfId, PeerTls? tls = null) : IChunkPeerClient
{
    /// <summary>Largest message accepted from a peer: a piece is 64 KiB of data and a few fields.</summary>
    public const int MaxReceiveMessageBytes = 1024 * 1024;
    /// <summary>Largest request sent; the owner refuses bigger ones (names and ETag are bounded far below this).</summary>
    public const int MaxSendMessageBytes = 64 * 1024;
    // A replaced channel may carry transfers still in flight: it is closed once they have had time to finish.
    private static readonly TimeSpan RetireAfter = TimeSpan.FromMinutes(2);

    private sealed record Peer(GrpcChannel Channel, ChunkPeer.ChunkPeerClient Client, long TlsVersion);

    private readonly ConcurrentDictionary<string, Peer> _channels = new(StringComparer.Ordinal);

    private ChunkPeer.ChunkPeerClient Client(string address)
    {
        long version = tls?.Version ?? 0;
        Peer peer = _channels.GetOrAdd(address, Open, version);
        while (peer.TlsVersion != version)
        {
            Peer fresh = Open(address, version);
            if (_channels.TryUpdate(address, fresh, peer))
            {
                GrpcChannel old = peer.Channel;
                _ = Task.Delay(RetireAfter).ContinueWith(_ => old.Dispose(), TaskScheduler.Default);
                return fresh.Client;
            }
            fresh.Channel.Dispose();
            peer = _channels.GetOrAdd(address, Open, version);
        }
        return peer.Client;
    }

    private Peer Open(string address, long version)
    {
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            ConnectTimeout = TimeSpan.FromSeconds(2),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            KeepAlivePingDelay = TimeSpan.FromSeconds(30),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
            InitialHttp2StreamWindowSize = 4 * 1024 * 1024,
        };
        if (tls is not null)
        {
            X509Certificate2 mine = tls.Certificate;
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                LocalCertificateSelectionCallback = (_, _, _, _, _) => mine,
                RemoteCertificateValidationCallback = (_, certificate, _, _) => tls.ValidateServer(certificate),
            };
        }
        GrpcChannel channel = GrpcChannel.ForAddress((tls is null ? "http://" : "https://") + address, new GrpcChannelOptions
        {
            HttpHandler = handler,
            MaxReceiveMessageSize = MaxReceiveMessageBytes,
            MaxSendMessageSize = MaxSendMessageBytes,
        });
        return new Peer(channel, new ChunkPeer.ChunkPeerClient(channel), version);
    }

    public async Task<ChunkBuffer?> FetchAsync(MemberMeta peer, ChunkId id, long blobLength, bool fill, TimeSpan answerTimeout, CancellationToken cancellationToken)
    {
        ChunkBuffer? chunk = null;
        try
        {
            using AsyncServerStreamingCall<ChunkPiece> call = await CallAsync(peer, id, blobLength, fill, warmOnly: false, answerTimeout, cancellationToken).ConfigureAwait(false);
            ulong checksum = 0;
            int filled = 0;
            while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                ChunkPiece piece = call.ResponseStream.Current;
                if (chunk is null)
                {
                    if (piece.Length <= 0 || piece.Length > 256L * 1024 * 1024) throw new PeerTransferException($"{peer.Id} announced a chunk of {piece.Length} bytes");
                    chunk = ChunkBuffer.Rent((int)piece.Length);
                    checksum = piece.Checksum;
                }
                ReadOnlySpan<byte> data = piece.Data.Span;
                if (data.Length > chunk.Length - filled) throw new PeerTransferException($"{peer.Id} sent more than the {chunk.Length} bytes it announced");
                data.CopyTo(chunk.Writable[filled..]);
                filled += data.Length;
            }
            if (chunk is null) throw new PeerTransferException($"{peer.Id} sent an empty stream");
            if (filled != chunk.Length) throw new PeerTransferException($"{peer.Id} sent {filled} of {chunk.Length} bytes");
            chunk.Seal();
            if (chunk.Checksum != checksum) throw new PeerTransferException($"{peer.Id} sent bytes that fail the checksum");
            ChunkBuffer done = chunk;
            chunk = null;
            return done;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return null;
        }
        catch (RpcException e)
        {
            throw Translate(e, peer, cancellationToken);
        }
        finally
        {
            chunk?.Release();
        }
    }

    public async Task<string> WarmAsync(MemberMeta peer, ChunkId id, long blobLength, TimeSpan answerTimeout, CancellationToken cancellationToken)
    {
        try
        {
            using AsyncServerStreamingCall<ChunkPiece> call = await CallAsync(peer, id, blobLength, fill: true, warmOnly: true, answerTimeout, cancellationToken).ConfigureAwait(false);
            if (!await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false)) throw new PeerTransferException($"{peer.Id} sent no answer to a warm-up");
            return call.ResponseStream.Current.Source;
        }
        catch (RpcException e)
        {
            throw Translate(e, peer, cancellationToken);
        }
    }

    // Starts the call and waits for the peer's headers: the owner sends them before it fills, so a silent peer is
    // dead or hung, and a talking one is working.
    private async Task<AsyncServerStreamingCall<ChunkPiece>> CallAsync(MemberMeta peer, ChunkId id, long blobLength, bool fill, bool warmOnly,
        TimeSpan answerTimeout, CancellationToken cancellationToken)
    {
        var request = new FetchRequest
        {
            Account = id.Account, Container = id.Container, Blob = id.Blob, Etag = id.ETag, Index = id.Index,
            BlobLength = blobLength, Fill = fill, From = selfId, WarmOnly = warmOnly,
        };
        AsyncServerStreamingCall<ChunkPiece> call = Client(peer.GrpcAddress).Fetch(request, cancellationToken: cancellationToken);
        try
        {
            await call.ResponseHeadersAsync.WaitAsync(answerTimeout, cancellationToken).ConfigureAwait(false);
            return call;
        }
        catch (TimeoutException)
        {
            call.Dispose();
            throw new PeerTransferException($"{peer.Id} did not answer within {answerTimeout.TotalMilliseconds:F0} ms");
        }
        catch
        {
            call.Dispose();
            throw;
        }
    }

    private static Exception Translate(RpcException e, MemberMeta peer, CancellationToken cancellationToken) =>
        e.StatusCode is StatusCode.Cancelled or StatusCode.DeadlineExceeded && cancellationToken.IsCancellationRequested
            ? new OperationCanceledException(cancellationToken)
            : new PeerTransferException($"{peer.Id}: {e.StatusCode} {e.Status.Detail}", e);

    public ValueTask DisposeAsync()
    {
        foreach (Peer p in _channels.Values) p.Channel.Dispose();
        _channels.Clear();
        return ValueTask.CompletedTask;
    }
}
