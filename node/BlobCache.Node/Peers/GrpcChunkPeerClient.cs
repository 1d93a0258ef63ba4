using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using BlobCache.Node.Peers.Grpc;
using BlobCache.Node.Security;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;
using Google.Protobuf;
using global::Grpc.Core;
using global::Grpc.Net.Client;

namespace BlobCache.Node.Peers;

/// <summary>
/// Requester side of gRPC chunk transfer: one HTTP/2 channel per peer, pieces copied into one pooled buffer. With
/// <paramref name="tls"/> the channels are mutual TLS: this node presents its certificate and accepts only servers
/// whose certificate the mesh CA signed; after the files are reloaded, new channels are opened with the new material.
/// </summary>
/// <param name="chunkSize">The mesh's chunk size: an answer must announce exactly the length of the chunk asked for.</param>
public sealed class GrpcChunkPeerClient(string selfId, int chunkSize, PeerTls? tls = null) : IChunkPeerClient
{
    /// <summary>Largest message accepted from a peer: a piece is 64 KiB of data and a few fields.</summary>
    public const int MaxReceiveMessageBytes = 1024 * 1024;
    /// <summary>Largest request sent; the owner refuses bigger ones (names and ETag are bounded far below this).</summary>
    public const int MaxSendMessageBytes = 64 * 1024;
    // A replaced channel may carry transfers still in flight: it is closed once they have had time to finish.
    private static readonly TimeSpan RetireAfter = TimeSpan.FromMinutes(2);

    private sealed record Peer(GrpcChannel Channel, CallInvoker Invoker, long TlsVersion);

    // ChunkPeer.Fetch with the pieces read by ChunkPieceWire into the call's sink instead of parsed into ChunkPiece
    // messages (which copies each piece into a new ByteString before we copy it into the chunk).
    private static readonly Method<FetchRequest, PieceSink> Fetch = new(MethodType.ServerStreaming, ChunkPeer.Descriptor.FullName, "Fetch",
        Marshallers.Create<FetchRequest>(r => r.ToByteArray(), FetchRequest.Parser.ParseFrom),
        new Marshaller<PieceSink>((_, _) => throw new NotSupportedException("the requester never sends pieces"), ReadPiece));

    // The sink of the fetch running on this async flow: Grpc.Net.Client deserializes each message inside our
    // MoveNext call, so the value set before the call is the one the marshaller sees.
    private static readonly AsyncLocal<PieceSink?> CurrentSink = new();

    private static PieceSink ReadPiece(DeserializationContext context)
    {
        PieceSink sink = CurrentSink.Value ?? throw new InvalidOperationException("a chunk piece arrived outside a fetch");
        sink.Accept(context.PayloadAsReadOnlySequence());
        return sink;
    }

    private readonly ConcurrentDictionary<string, Peer> _channels = new(StringComparer.Ordinal);

    private CallInvoker Invoker(string address)
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
                return fresh.Invoker;
            }
            fresh.Channel.Dispose();
            peer = _channels.GetOrAdd(address, Open, version);
        }
        return peer.Invoker;
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
        return new Peer(channel, channel.CreateCallInvoker(), version);
    }

    public async Task<PeerReply> AskAsync(MemberMeta peer, ChunkId id, long blobLength, bool fill, TimeSpan answerTimeout, CancellationToken cancellationToken)
    {
        var sink = new PieceSink(peer.Id, warmOnly: false, ReceivedChunk.ExpectedLength(id, blobLength, chunkSize));
        CurrentSink.Value = sink;
        try
        {
            using AsyncServerStreamingCall<PieceSink> call = await CallAsync(peer, id, blobLength, fill, warmOnly: false, answerTimeout, cancellationToken).ConfigureAwait(false);
            while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                if (sink.Error is { } error) throw new PeerTransferException(error);
            }
            return PeerReply.Of(sink.TakeChunk());
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return PeerReply.NotHere;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.FailedPrecondition)
        {
            return PeerReply.BlobChanged($"{peer.Id}: {e.Status.Detail}");
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Aborted && e.Trailers.GetValueBytes(GrpcChunkService.HoldersTrailer) is { } encoded)
        {
            if (PeerHolders.TryDecode(encoded, out PeerHolders holders) is { } malformed) throw new PeerTransferException($"{peer.Id} sent a busy answer with {malformed}");
            return PeerReply.Busy(holders);
        }
        catch (RpcException e)
        {
            throw Translate(e, peer, cancellationToken);
        }
        finally
        {
            sink.Release();
        }
    }

    public async Task<string> WarmAsync(MemberMeta peer, ChunkId id, long blobLength, TimeSpan answerTimeout, CancellationToken cancellationToken)
    {
        var sink = new PieceSink(peer.Id, warmOnly: true, ReceivedChunk.ExpectedLength(id, blobLength, chunkSize));
        CurrentSink.Value = sink;
        try
        {
            using AsyncServerStreamingCall<PieceSink> call = await CallAsync(peer, id, blobLength, fill: true, warmOnly: true, answerTimeout, cancellationToken).ConfigureAwait(false);
            if (!await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false)) throw new PeerTransferException($"{peer.Id} sent no answer to a warm-up");
            if (sink.Error is { } error) throw new PeerTransferException(error);
            return sink.Source;
        }
        catch (RpcException e)
        {
            throw Translate(e, peer, cancellationToken);
        }
    }

    // Starts the call and waits for the peer's headers: the owner sends them before it fills, so a silent peer is
    // dead or hung, and a talking one is working.
    private async Task<AsyncServerStreamingCall<PieceSink>> CallAsync(MemberMeta peer, ChunkId id, long blobLength, bool fill, bool warmOnly,
        TimeSpan answerTimeout, CancellationToken cancellationToken)
    {
        var request = new FetchRequest
        {
            Account = id.Account, Container = id.Container, Blob = id.Blob, Etag = id.ETag, Index = id.Index,
            BlobLength = blobLength, Fill = fill, From = selfId, WarmOnly = warmOnly,
        };
        AsyncServerStreamingCall<PieceSink> call = Invoker(peer.GrpcAddress).AsyncServerStreamingCall(Fetch, null, new CallOptions(cancellationToken: cancellationToken), request);
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
