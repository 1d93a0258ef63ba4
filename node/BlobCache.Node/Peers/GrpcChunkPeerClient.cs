using System.Collections.Concurrent;
using System.Net;
using BlobCache.Node.Peers.Grpc;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;
using global::Grpc.Core;
using global::Grpc.Net.Client;

namespace BlobCache.Node.Peers;

/// <summary>Requester side of gRPC chunk transfer: one HTTP/2 channel per peer, pieces copied into one pooled buffer.</summary>
public sealed class GrpcChunkPeerClient(string selfId) : IChunkPeerClient
{
    private readonly ConcurrentDictionary<string, GrpcChannel> _channels = new(StringComparer.Ordinal);

    private ChunkPeer.ChunkPeerClient Client(string address)
    {
        GrpcChannel channel = _channels.GetOrAdd(address, a => GrpcChannel.ForAddress("http://" + a, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                EnableMultipleHttp2Connections = true,
                ConnectTimeout = TimeSpan.FromSeconds(2),
                PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
                KeepAlivePingDelay = TimeSpan.FromSeconds(30),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
                InitialHttp2StreamWindowSize = 4 * 1024 * 1024,
            },
            MaxReceiveMessageSize = 8 * 1024 * 1024,
        }));
        return new ChunkPeer.ChunkPeerClient(channel);
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
        foreach (GrpcChannel c in _channels.Values) c.Dispose();
        _channels.Clear();
        return ValueTask.CompletedTask;
    }
}
