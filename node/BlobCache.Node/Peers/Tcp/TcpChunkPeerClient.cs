using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using BlobCache.Mesh.Reading;
using BlobCache.Node.Security;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;

namespace BlobCache.Node.Peers.Tcp;

/// <summary>
/// Requester side of the framed-TCP chunk transport (<see cref="TcpFrames"/>, on the peer's gRPC port): a pool of
/// connections per peer, one request at a time on each, the chunk received straight into its pooled buffer, so
/// there is no copy in user space between the socket and the cache. With <paramref name="tls"/> each connection is
/// mutual TLS after the magic, under the same certificate and CA rules as gRPC (the owner serves nothing before
/// the handshake succeeds); a connection made before a certificate reload is closed instead of reused.
/// </summary>
/// <param name="chunkSize">The mesh's chunk size: an answer must announce exactly the length of the chunk asked for.</param>
public sealed class TcpChunkPeerClient(string selfId, int chunkSize, PeerTls? tls = null) : IChunkPeerClient
{
    /// <summary>Idle connections kept per peer; more are closed when returned.</summary>
    public const int MaxIdlePerPeer = 64;
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(2);
    /// <summary>Bytes taken per receive under TLS (four 16 KiB records), one buffer per connection.</summary>
    private const int ReadAheadBytes = 64 * 1024;
    private readonly ConcurrentDictionary<string, ConcurrentBag<Connection>> _idle = new(StringComparer.Ordinal);
    private int _disposed;

    /// <summary>One connection (a socket's stream, or TLS over it) with the small buffers and timer its requests reuse.</summary>
    private sealed class Connection(Stream stream, long tlsVersion) : IDisposable
    {
        public Stream Stream { get; } = stream;
        public long TlsVersion { get; } = tlsVersion;
        public byte[] Answer { get; } = new byte[TcpFrames.AnswerBytes];
        public CancellationTokenSource Timer { get; set; } = new();

        public void Dispose()
        {
            Stream.Dispose();
            Timer.Dispose();
        }
    }

    /// <summary>The mesh's chunk size.</summary>
    public int ChunkSize => chunkSize;

    private enum Ask : byte { Chunk, Fill, Warm, Metadata, MetadataDirect }

    /// <summary>A peer's answer: for a metadata request, its body and the bytes that came with it (the caller releases them).</summary>
    private readonly record struct Exchange(PeerReply Reply, byte Source, byte[]? Metadata = null, ChunkBuffer? Content = null);

    public async Task<PeerReply> AskAsync(MemberMeta peer, ChunkId id, long blobLength, bool fill, TimeSpan answerTimeout, CancellationToken cancellationToken) =>
        (await ExchangeAsync(peer, id, blobLength, fill ? Ask.Fill : Ask.Chunk, answerTimeout, cancellationToken).ConfigureAwait(false)).Reply;

    public async Task<string> WarmAsync(MemberMeta peer, ChunkId id, long blobLength, TimeSpan answerTimeout, CancellationToken cancellationToken)
    {
        (PeerReply reply, byte source, _, _) = await ExchangeAsync(peer, id, blobLength, Ask.Warm, answerTimeout, cancellationToken).ConfigureAwait(false);
        if (reply.Answer != PeerAnswer.Chunk) throw new PeerTransferException($"{peer.Id} could not warm {id}: {reply.Answer} {reply.Message}");
        return TcpFrames.SourceName(source);
    }

    /// <summary>
    /// Sends a metadata request (<see cref="TcpFrames.WriteMetadataRequest"/>) and returns the answer's body, checked
    /// against its checksum and bounded by <see cref="PeerPassThrough.MaxEncodedBytes"/>; the caller decodes it.
    /// With <paramref name="contentLength"/> the request asks for the blob's bytes too, and the function, given the
    /// body, says how long they must be (0: none may come); bytes that came are checked like any chunk
    /// (<see cref="ReceivedChunk"/>) and are the caller's to release.
    /// Throws <see cref="PeerTransferException"/> when the peer failed, refused or broke the protocol.
    /// </summary>
    public async Task<(byte[] Body, ChunkBuffer? Content)> AskMetadataAsync(MemberMeta peer, ChunkId request, bool direct, TimeSpan answerTimeout,
        CancellationToken cancellationToken, Func<byte[], int>? contentLength = null)
    {
        Exchange e = await ExchangeAsync(peer, request, 0, direct ? Ask.MetadataDirect : Ask.Metadata, answerTimeout, cancellationToken, contentLength).ConfigureAwait(false);
        if (e.Reply.Answer == PeerAnswer.Busy) throw new PeerThrottledException($"{peer.Id}: Blob is throttling it");
        if (e.Reply.Answer != PeerAnswer.Chunk || e.Metadata is null) throw new PeerTransferException($"{peer.Id} did not answer a metadata request: {e.Reply.Answer} {e.Reply.Message}");
        return (e.Metadata, e.Content);
    }

    private async Task<Exchange> ExchangeAsync(MemberMeta peer, ChunkId id, long blobLength, Ask ask, TimeSpan answerTimeout, CancellationToken cancellationToken,
        Func<byte[], int>? contentLength = null)
    {
        string address = peer.GrpcAddress;
        bool metadata = ask is Ask.Metadata or Ask.MetadataDirect, warmOnly = ask == Ask.Warm;
        int expected = metadata ? 0 : ReceivedChunk.ExpectedLength(id, blobLength, chunkSize);
        // A pooled connection the peer has since closed (it restarted) fails before its first answer byte: then
        // once more on a new connection.
        for (int attempt = 0; ; attempt++)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            bool reused = Pool(address).TryTake(out Connection? c);
            if (c is not null && c.TlsVersion != (tls?.Version ?? 0))
            {
                c.Dispose();   // made with a certificate since replaced
                c = null;
                reused = false;
            }
            c ??= await ConnectAsync(peer, address, cancellationToken).ConfigureAwait(false);
            bool keep = false;
            bool answered = false;
            ChunkBuffer? chunk = null;
            CancellationTokenRegistration caller = cancellationToken.UnsafeRegister(static t => ((CancellationTokenSource)t!).Cancel(), c.Timer);
            try
            {
                CancellationToken token = c.Timer.Token;
                await SendRequestAsync(c.Stream, id, blobLength, ask, contentLength is not null, token).ConfigureAwait(false);
                c.Timer.CancelAfter(answerTimeout);
                await ReceiveExactlyAsync(c.Stream, c.Answer.AsMemory(0, 1), token).ConfigureAwait(false);
                answered = true;
                c.Timer.CancelAfter(Timeout.Infinite); // from here the caller's token bounds a slow fill
                if (c.Answer[0] != TcpFrames.Accepted) throw new PeerTransferException($"{peer.Id} answered with a byte that is not in the protocol");
                await ReceiveExactlyAsync(c.Stream, c.Answer, token).ConfigureAwait(false);
                (TcpStatus status, byte source, int length, ulong checksum) = TcpFrames.ReadAnswer(c.Answer);
                if (status != TcpStatus.Ok)
                {
                    if (length is < 0 or > TcpFrames.MaxErrorBytes) throw new PeerTransferException($"{peer.Id} sent an error of {length} bytes");
                    byte[] text = ArrayPool<byte>.Shared.Rent(Math.Max(1, length));
                    try
                    {
                        await ReceiveExactlyAsync(c.Stream, text.AsMemory(0, length), token).ConfigureAwait(false);
                        keep = true;
                        return new Exchange(Answered(peer, status, text.AsSpan(0, length)), 0);
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(text);
                    }
                }
                if (metadata)
                {
                    byte[] answer = await ReceiveMetadataAsync(peer, c.Stream, length, checksum, token).ConfigureAwait(false);
                    if (contentLength is not null) chunk = await ReceiveContentAsync(peer, c, contentLength(answer), token).ConfigureAwait(false);
                    keep = true;
                    ChunkBuffer? content = chunk;
                    chunk = null;
                    return new Exchange(new PeerReply(PeerAnswer.Chunk, null, default, ""), source, answer, content);
                }
                if (ReceivedChunk.CheckAnnounced(peer.Id, length, expected) is { } wrong) throw new PeerTransferException(wrong);
                if (warmOnly)
                {
                    keep = true;
                    return new Exchange(new PeerReply(PeerAnswer.Chunk, null, default, ""), source);
                }
                chunk = ChunkBuffer.Rent(expected);
                await ReceiveExactlyAsync(c.Stream, chunk.WritableMemory, token).ConfigureAwait(false);
                keep = true;
                ReceivedChunk.Verify(peer.Id, chunk, expected, expected, checksum);
                ChunkBuffer done = chunk;
                chunk = null;
                return new Exchange(PeerReply.Of(done), source);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                throw new PeerTransferException($"{peer.Id} did not answer within {answerTimeout.TotalMilliseconds:F0} ms");
            }
            catch (Exception e) when (e is SocketException or IOException or PeerClosedException && reused && !answered && attempt == 0)
            {
                // stale pooled connection: try a fresh one
            }
            catch (Exception e) when (e is SocketException or IOException or PeerClosedException)
            {
                throw new PeerTransferException($"{peer.Id}: {e.Message}", e);
            }
            finally
            {
                chunk?.Release();
                // After the registration is gone the timer can be reset and the connection reused; a fired timer
                // means a cancelled receive, which leaves the socket in no known state.
                await caller.DisposeAsync().ConfigureAwait(false);
                if (keep && c.Timer.TryReset()) Return(address, c);
                else c.Dispose();
            }
        }
    }

    /// <summary>A metadata answer's body, bounded and checked against its checksum; throws when it is not one.</summary>
    private static async ValueTask<byte[]> ReceiveMetadataAsync(MemberMeta peer, Stream stream, int length, ulong checksum, CancellationToken token)
    {
        if (length is <= 0 or > PeerPassThrough.MaxEncodedBytes) throw new PeerTransferException($"{peer.Id} announced a metadata answer of {length} bytes");
        byte[] body = new byte[length];
        await ReceiveExactlyAsync(stream, body, token).ConfigureAwait(false);
        if (System.IO.Hashing.XxHash3.HashToUInt64(body) != checksum) throw new PeerTransferException($"{peer.Id} sent a metadata answer that fails its checksum");
        return body;
    }

    /// <summary>
    /// The second answer after a content request's metadata: null when it says no bytes come, else the chunk of exactly
    /// <paramref name="expected"/> bytes (the length the properties give; 0 when none may come) that match its checksum.
    /// </summary>
    private static async ValueTask<ChunkBuffer?> ReceiveContentAsync(MemberMeta peer, Connection c, int expected, CancellationToken token)
    {
        await ReceiveExactlyAsync(c.Stream, c.Answer, token).ConfigureAwait(false);
        if (TcpFrames.ReadContentAnswer(c.Answer, expected, out int length, out ulong checksum) is { } wrong) throw new PeerTransferException($"{peer.Id} sent {wrong}");
        if (length == 0) return null;
        ChunkBuffer chunk = ChunkBuffer.Rent(expected);
        try
        {
            await ReceiveExactlyAsync(c.Stream, chunk.WritableMemory, token).ConfigureAwait(false);
            ReceivedChunk.Verify(peer.Id, chunk, expected, expected, checksum);
            return chunk;
        }
        catch
        {
            chunk.Release();
            throw;
        }
    }

    /// <summary>An answer other than Ok, from its status and body: what the peer said, or a throw when it broke the protocol.</summary>
    private static PeerReply Answered(MemberMeta peer, TcpStatus status, ReadOnlySpan<byte> body)
    {
        switch (status)
        {
            case TcpStatus.NotFound:
                return PeerReply.NotHere;
            case TcpStatus.Busy:
                if (PeerHolders.TryDecode(body, out PeerHolders holders) is { } malformed) throw new PeerTransferException($"{peer.Id} sent a busy answer with {malformed}");
                return PeerReply.Busy(holders);
            case TcpStatus.BlobChanged:
                return PeerReply.BlobChanged($"{peer.Id}: {Encoding.UTF8.GetString(body)}");
            default:
                throw new PeerTransferException($"{peer.Id}: {status} {Encoding.UTF8.GetString(body)}");
        }
    }

    private sealed class PeerClosedException() : Exception("the peer closed the connection");

    private ConcurrentBag<Connection> Pool(string address) => _idle.GetOrAdd(address, static _ => []);

    private void Return(string address, Connection c)
    {
        ConcurrentBag<Connection> pool = Pool(address);
        if (Volatile.Read(ref _disposed) != 0 || pool.Count >= MaxIdlePerPeer) c.Dispose();
        else pool.Add(c);
    }

    private async Task<Connection> ConnectAsync(MemberMeta peer, string address, CancellationToken cancellationToken)
    {
        int colon = address.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(address.AsSpan(colon + 1), out int port)) throw new PeerTransferException($"{peer.Id} advertises a bad address '{address}'");
        string host = address[..colon].Trim('[', ']');
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Stream? stream = null;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(ConnectTimeout);
            try
            {
                if (IPAddress.TryParse(host, out IPAddress? ip)) await socket.ConnectAsync(ip, port, timeout.Token).ConfigureAwait(false);
                else await socket.ConnectAsync(host, port, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new PeerTransferException($"{peer.Id} did not accept a connection within {ConnectTimeout.TotalSeconds:F0} s");
            }
            catch (SocketException e)
            {
                throw new PeerTransferException($"{peer.Id}: {e.Message}", e);
            }
            stream = new NetworkStream(socket, ownsSocket: true);
            // The magic goes first, in the clear: it tells the owner's port this is the framed transport; under TLS
            // the handshake follows it, and the owner serves nothing before it succeeds.
            await stream.WriteAsync(TcpFrames.Magic.ToArray(), cancellationToken).ConfigureAwait(false);
            long version = 0;
            if (tls is not null)
            {
                version = tls.Version;
                var ssl = new SslStream(new TlsRecordBatching(stream, stream, ReadAheadBytes, 0), leaveInnerStreamOpen: false);
                stream = ssl;
                X509Certificate2 mine = tls.Certificate;
                try
                {
                    await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                    {
                        TargetHost = host,
                        ClientCertificates = [mine],
                        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                        RemoteCertificateValidationCallback = (_, certificate, _, _) => tls.ValidateServer(certificate),
                    }, timeout.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is AuthenticationException or IOException)
                {
                    throw new PeerTransferException($"{peer.Id}: TLS handshake failed: {e.Message}", e);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new PeerTransferException($"{peer.Id} did not finish the TLS handshake within {ConnectTimeout.TotalSeconds:F0} s");
                }
            }
            return new Connection(stream, version);
        }
        catch
        {
            if (stream is not null) await stream.DisposeAsync().ConfigureAwait(false);
            else socket.Dispose();
            throw;
        }
    }

    private async ValueTask SendRequestAsync(Stream stream, ChunkId id, long blobLength, Ask ask, bool content, CancellationToken token)
    {
        int size = TcpFrames.RequestBytes(id, selfId);
        if (size > TcpFrames.MaxRequestBytes) throw new PeerTransferException($"a request for {id} is too long for the tcp transport");
        byte[] request = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            int n = ask is Ask.Metadata or Ask.MetadataDirect
                ? TcpFrames.WriteMetadataRequest(request, id, ask == Ask.MetadataDirect, content, selfId)
                : TcpFrames.WriteRequest(request, id, blobLength, ask is Ask.Fill or Ask.Warm, ask == Ask.Warm, selfId);
            await stream.WriteAsync(request.AsMemory(0, n), token).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(request);
        }
    }

    private static async ValueTask ReceiveExactlyAsync(Stream stream, Memory<byte> into, CancellationToken token)
    {
        while (!into.IsEmpty)
        {
            int n = await stream.ReadAsync(into, token).ConfigureAwait(false);
            if (n == 0) throw new PeerClosedException();
            into = into[n..];
        }
    }

    public ValueTask DisposeAsync()
    {
        Interlocked.Exchange(ref _disposed, 1);
        foreach (ConcurrentBag<Connection> pool in _idle.Values)
        {
            while (pool.TryTake(out Connection? c)) c.Dispose();
        }
        return ValueTask.CompletedTask;
    }
}
