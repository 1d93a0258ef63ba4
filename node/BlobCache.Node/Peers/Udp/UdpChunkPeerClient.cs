using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using BlobCache.Protocol.Gossip;
using BlobCache.Protocol.Security;
using BlobCache.Store;
using LiteNetLib;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Peers.Udp;

/// <summary>
/// Requester side of the UDP chunk transport: one LiteNetLib manager, one connection per peer address (made on first
/// use, made again after it fails), any number of requests in flight on it, told apart by request id. Frames arrive
/// on LiteNetLib's receive thread, which only decodes, copies pieces into the pooled chunk and completes tasks
/// (continuations run on the thread pool); the awaiting caller seals the chunk and checks its checksum. With a
/// keyring, each connection request carries a <see cref="ConnectToken"/> signed with the primary key.
/// </summary>
public sealed class UdpChunkPeerClient : IChunkPeerClient, INetEventListener
{
    private readonly string _selfId;
    private readonly int _chunkSize;
    private readonly ILogger _logger;
    private readonly Func<Keyring>? _keys;
    private readonly NetManager _manager;
    private readonly ConcurrentDictionary<string, ClientConnection> _connections = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, IPEndPoint> _resolved = new(StringComparer.Ordinal);
    private readonly Lock _connectLock = new();
    private int _nextRequestId;
    private long _droppedFrames;
    private volatile bool _disposed;

    /// <param name="chunkSize">The mesh's chunk size: an answer must announce exactly the length of the chunk asked for.</param>
    /// <param name="keys">The current keyring, to sign connection requests; null: --insecure (owners with a keyring refuse).</param>
    public UdpChunkPeerClient(string selfId, int chunkSize, ILogger logger, Func<Keyring>? keys = null)
    {
        _keys = keys;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkSize);
        _selfId = selfId;
        _chunkSize = chunkSize;
        _logger = logger;
        _manager = new NetManager(this);
        UdpTransport.Configure(_manager);
        if (!_manager.Start(IPAddress.Any, IPAddress.IPv6Any, 0))
            throw new SocketException((int)SocketError.AddressNotAvailable);
    }

    /// <summary>Frames that failed to decode or made no sense for their request; each was dropped.</summary>
    public long DroppedFrames => Interlocked.Read(ref _droppedFrames);

    /// <summary>Open connections (diagnostics and tests).</summary>
    public int Connections => _connections.Count;

    public async Task<PeerReply> AskAsync(MemberMeta peer, ChunkId id, long blobLength, bool fill, TimeSpan answerTimeout, CancellationToken cancellationToken)
    {
        Result r = await RequestAsync(peer, id, blobLength, fill, warmOnly: false, answerTimeout, cancellationToken).ConfigureAwait(false);
        if (r.Chunk is not { } chunk) return r.Reply;
        try
        {
            // The transfer completes only once every expected byte has arrived.
            int expected = ReceivedChunk.ExpectedLength(id, blobLength, _chunkSize);
            ReceivedChunk.Verify(peer.Id, chunk, expected, expected, r.Checksum);
            return PeerReply.Of(chunk);
        }
        catch
        {
            chunk.Release();
            throw;
        }
    }

    public async Task<string> WarmAsync(MemberMeta peer, ChunkId id, long blobLength, TimeSpan answerTimeout, CancellationToken cancellationToken)
    {
        Result r = await RequestAsync(peer, id, blobLength, fill: true, warmOnly: true, answerTimeout, cancellationToken).ConfigureAwait(false);
        return r.Source ?? throw new PeerTransferException($"{peer.Id} did not warm the chunk: {r.Reply.Answer} {r.Reply.Message}");
    }

    private async Task<Result> RequestAsync(MemberMeta peer, ChunkId id, long blobLength, bool fill, bool warmOnly, TimeSpan answerTimeout, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long started = Stopwatch.GetTimestamp();
        if (string.IsNullOrEmpty(peer.UdpAddress)) throw new PeerTransferException($"{peer.Id} advertises no udp address");
        ClientConnection connection = await ConnectionAsync(peer.UdpAddress, cancellationToken).ConfigureAwait(false);
        uint requestId = (uint)Interlocked.Increment(ref _nextRequestId);
        var transfer = new ClientTransfer(peer.Id, warmOnly, ReceivedChunk.ExpectedLength(id, blobLength, _chunkSize));
        connection.Transfers[requestId] = transfer;
        try
        {
            if (connection.Dead) throw new PeerTransferException($"{peer.Id}: connection lost");
            try
            {
                await connection.Connected.Task.WaitAsync(Left(answerTimeout, started), cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new PeerTransferException($"{peer.Id} did not answer within {answerTimeout.TotalMilliseconds:F0} ms (no connection)");
            }
            SendFetch(connection, requestId, new UdpFetch(id.Account, id.Container, id.Blob, id.ETag, id.Index, blobLength, fill, warmOnly, _selfId));
            try
            {
                // The owner answers "accepted" before it fills: a silent peer is dead or hung, a talking one is working.
                await transfer.Answered.Task.WaitAsync(Left(answerTimeout, started), cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new PeerTransferException($"{peer.Id} did not answer within {answerTimeout.TotalMilliseconds:F0} ms");
            }
            return await transfer.Done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            if (transfer.Abort() && !connection.Dead) SendCancel(connection, requestId);
            transfer.ReleaseUnclaimed();
            throw;
        }
        finally
        {
            connection.Transfers.TryRemove(new KeyValuePair<uint, ClientTransfer>(requestId, transfer));
        }
    }

    private static TimeSpan Left(TimeSpan timeout, long started)
    {
        TimeSpan left = timeout - Stopwatch.GetElapsedTime(started);
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    private async Task<ClientConnection> ConnectionAsync(string address, CancellationToken cancellationToken)
    {
        if (!_resolved.TryGetValue(address, out IPEndPoint? endPoint))
        {
            endPoint = await UdpTransport.ResolveAsync(address, cancellationToken).ConfigureAwait(false);
            _resolved[address] = endPoint;
        }
        string key = endPoint.ToString();
        if (_connections.TryGetValue(key, out ClientConnection? c) && !c.Dead) return c;
        lock (_connectLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_connections.TryGetValue(key, out c) && !c.Dead) return c;
            c = new ClientConnection(key);
            // Registered before Connect, so the connected event (LiteNetLib's receive thread) always finds it.
            _connections[key] = c;
            NetPeer? peer;
            if (_keys is null) peer = _manager.Connect(endPoint, UdpTransport.ConnectionKey);
            else
            {
                // Signed for the address as the owner advertises it, so the request is no good at any other node.
                Span<byte> token = stackalloc byte[ConnectToken.MaxBytes];
                int n = ConnectToken.Write(_keys(), _selfId, address, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), token);
                peer = _manager.Connect(endPoint, token[..n]);
            }
            if (peer is null)
            {
                _connections.TryRemove(new KeyValuePair<string, ClientConnection>(key, c));
                throw new PeerTransferException($"cannot connect to {key}");
            }
            c.Peer = peer;
            peer.Tag = c;
            if (peer.ConnectionState == ConnectionState.Connected) c.Connected.TrySetResult();
            _logger.LogDebug("udp: connecting to {EndPoint}", key);
            return c;
        }
    }

    private void SendFetch(ClientConnection connection, uint requestId, UdpFetch fetch)
    {
        byte[] frame = ArrayPool<byte>.Shared.Rent(UdpFrames.MaxFetchBytes);
        try
        {
            int n;
            try
            {
                n = UdpFrames.WriteFetch(frame, requestId, fetch);
            }
            catch (ArgumentException e)
            {
                throw new PeerTransferException(e.Message, e);
            }
            Send(connection, requestId, frame.AsSpan(0, n));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    private void SendCancel(ClientConnection connection, uint requestId)
    {
        Span<byte> frame = stackalloc byte[UdpFrames.HeaderBytes];
        Send(connection, requestId, frame[..UdpFrames.WriteCancel(frame, requestId)]);
    }

    private void Send(ClientConnection connection, uint requestId, ReadOnlySpan<byte> frame)
    {
        NetPeer? peer = connection.Peer;
        if (peer is null) return;
        peer.Send(frame, (byte)(requestId % UdpTransport.Channels), DeliveryMethod.ReliableOrdered);
        _manager.TriggerUpdate();
    }

    // ---- LiteNetLib events (its threads; never block, never throw) ----

    private ClientConnection? ConnectionOf(NetPeer peer)
    {
        if (peer.Tag is ClientConnection c) return c;
        return _connections.TryGetValue(new IPEndPoint(peer.Address, peer.Port).ToString(), out ClientConnection? found) ? found : null;
    }

    public void OnPeerConnected(NetPeer peer)
    {
        ClientConnection? c = ConnectionOf(peer);
        if (c is null) return;
        c.Peer ??= peer;
        c.Connected.TrySetResult();
        _logger.LogDebug("udp: connected to {EndPoint}", c.Key);
    }

    public void OnPeerDisconnected(NetPeer peer, DisconnectInfo disconnectInfo)
    {
        ClientConnection? c = ConnectionOf(peer);
        if (c is null || (c.Peer is not null && !ReferenceEquals(c.Peer, peer))) return;
        _connections.TryRemove(new KeyValuePair<string, ClientConnection>(c.Key, c));
        string? refusal = disconnectInfo.Reason == DisconnectReason.ConnectionRejected && disconnectInfo.AdditionalData is { } data
            ? Printable(data.GetRemainingBytesSpan()) : null;
        c.Fail(string.IsNullOrEmpty(refusal) ? $"connection to {c.Key} lost ({disconnectInfo.Reason})" : $"{c.Key} refused the connection: {refusal}");
        _logger.LogDebug("udp: connection to {EndPoint} closed: {Reason}", c.Key, disconnectInfo.Reason);
    }

    // The refusal comes from an unauthenticated party: show at most a short, printable line of it.
    private static string Printable(ReadOnlySpan<byte> bytes)
    {
        string text = System.Text.Encoding.UTF8.GetString(bytes[..Math.Min(bytes.Length, 200)]);
        return string.Create(text.Length, text, static (span, t) =>
        {
            for (int i = 0; i < t.Length; i++) span[i] = char.IsControl(t[i]) ? '?' : t[i];
        });
    }

    public void OnNetworkError(IPEndPoint endPoint, SocketError socketError) =>
        _logger.LogDebug("udp: socket error {Error} with {EndPoint}", socketError, endPoint);

    public void OnNetworkReceive(NetPeer peer, NetPacketReader reader, byte channelNumber, DeliveryMethod deliveryMethod)
    {
        try
        {
            if (deliveryMethod != DeliveryMethod.ReliableOrdered || !UdpFrames.TryDecode(reader.GetRemainingBytesSpan(), out UdpFrame frame, out _))
            {
                Interlocked.Increment(ref _droppedFrames);
                return;
            }
            ClientConnection? c = ConnectionOf(peer);
            // A frame for a request that is gone (cancelled, timed out) is normal: pieces already on the wire.
            if (c is null || !c.Transfers.TryGetValue(frame.RequestId, out ClientTransfer? t)) return;
            if (channelNumber != frame.RequestId % UdpTransport.Channels || !t.OnFrame(ref frame))
                Interlocked.Increment(ref _droppedFrames);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Interlocked.Increment(ref _droppedFrames);
            _logger.LogWarning(e, "udp: failed handling a frame from {EndPoint}", (IPEndPoint)peer);
        }
    }

    public void OnNetworkReceiveUnconnected(IPEndPoint remoteEndPoint, NetPacketReader reader, UnconnectedMessageType messageType) =>
        Interlocked.Increment(ref _droppedFrames);

    public void OnNetworkLatencyUpdate(NetPeer peer, int latency)
    {
    }

    public void OnConnectionRequest(ConnectionRequest request) => request.Reject(); // the requester side accepts nothing

    public void OnMessageDelivered(NetPeer peer, object userData)
    {
    }

    public void OnNtpResponse(LiteNetLib.Utils.NtpPacket packet)
    {
    }

    public void OnPeerAddressChanged(NetPeer peer, IPEndPoint previousAddress)
    {
    }

    public ValueTask DisposeAsync()
    {
        lock (_connectLock)
        {
            if (_disposed) return ValueTask.CompletedTask;
            _disposed = true;
        }
        _manager.Stop(true);
        foreach (ClientConnection c in _connections.Values) c.Fail("udp peer client disposed");
        _connections.Clear();
        return ValueTask.CompletedTask;
    }

    /// <summary>A transfer's end: the chunk (or a warm-up's source), or what the peer answered instead (<see cref="Reply"/>).</summary>
    private readonly record struct Result(ChunkBuffer? Chunk, ulong Checksum, string? Source, PeerReply Reply = default);

    private sealed class ClientConnection(string key)
    {
        private volatile bool _dead;
        private volatile NetPeer? _peer;

        public string Key { get; } = key;
        public NetPeer? Peer { get => _peer; set => _peer = value; }
        public bool Dead => _dead;
        public TaskCompletionSource Connected { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public ConcurrentDictionary<uint, ClientTransfer> Transfers { get; } = new();

        public void Fail(string why)
        {
            _dead = true;
            Connected.TrySetException(new PeerTransferException(why));
            foreach (ClientTransfer t in Transfers.Values) t.Fail(why);
        }
    }

    /// <summary>One request: its answer, its chunk being assembled, and who finished it.</summary>
    private sealed class ClientTransfer(string peerId, bool warmOnly, int expectedLength)
    {
        private readonly Lock _gate = new();
        private ChunkBuffer? _buffer;
        private int _filled;
        private ulong _checksum;
        private bool _answered;
        private bool _finished;

        public TaskCompletionSource Answered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource<Result> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Applies one frame (receive thread); false when it broke the protocol (the request then fails).</summary>
        public bool OnFrame(ref UdpFrame frame)
        {
            lock (_gate)
            {
                if (_finished) return true;
                switch (frame.Kind)
                {
                    case UdpFrameKind.Accepted:
                        Answered.TrySetResult();
                        return true;
                    case UdpFrameKind.Answer:
                        Answered.TrySetResult();
                        if (_answered) return Broken("a second answer");
                        _answered = true;
                        switch (frame.Status)
                        {
                            case UdpAnswerStatus.NotFound:
                                Finish(new Result(null, 0, null, PeerReply.NotHere));
                                return true;
                            case UdpAnswerStatus.Busy:
                                Finish(new Result(null, 0, null, PeerReply.Busy(frame.Holders)));
                                return true;
                            case UdpAnswerStatus.BlobChanged:
                                Finish(new Result(null, 0, null, PeerReply.BlobChanged($"{peerId}: {frame.Message}")));
                                return true;
                            case UdpAnswerStatus.Error:
                                FailLocked($"{peerId}: {frame.Message}");
                                return true;
                            default:
                                // The length is known before asking: nothing is allocated from a length the peer chose.
                                if (ReceivedChunk.CheckAnnounced(peerId, frame.Length, expectedLength) is { } wrong) return Broken(wrong);
                                if (warmOnly)
                                {
                                    Finish(new Result(null, frame.Checksum, frame.Source));
                                    return true;
                                }
                                _buffer = ChunkBuffer.Rent(frame.Length);
                                _checksum = frame.Checksum;
                                return true;
                        }
                    case UdpFrameKind.Piece:
                        if (_buffer is null) return Broken("a piece before an ok answer");
                        if (frame.Offset != _filled) return Broken($"a piece at {frame.Offset}, expected {_filled}");
                        if (frame.Data.Length > _buffer.Length - _filled) return Broken($"more than the {_buffer.Length} bytes it announced");
                        frame.Data.CopyTo(_buffer.Writable[_filled..]);
                        _filled += frame.Data.Length;
                        if (_filled == _buffer.Length)
                        {
                            ChunkBuffer done = _buffer;
                            _buffer = null;
                            Finish(new Result(done, _checksum, null));
                        }
                        return true;
                    default:
                        return Broken($"a {frame.Kind} frame");
                }
            }
        }

        private bool Broken(string what)
        {
            FailLocked($"{peerId} broke the protocol: {what}");
            return false;
        }

        private void Finish(Result result)
        {
            _finished = true;
            Done.TrySetResult(result);
        }

        public void Fail(string why)
        {
            lock (_gate)
            {
                if (!_finished) FailLocked($"{peerId}: {why}" + (_buffer is null ? "" : $" after {_filled} of {_buffer.Length} bytes"));
            }
        }

        private void FailLocked(string why)
        {
            _finished = true;
            _buffer?.Release();
            _buffer = null;
            var e = new PeerTransferException(why);
            Answered.TrySetException(e);
            Done.TrySetException(e);
        }

        /// <summary>The requester gave up; true when the owner may still be sending (so it should be told).</summary>
        public bool Abort()
        {
            lock (_gate)
            {
                if (_finished) return false;
                _finished = true;
                _buffer?.Release();
                _buffer = null;
                return true;
            }
        }

        /// <summary>A chunk completed but never handed to the requester (it gave up at the same moment) goes back.</summary>
        public void ReleaseUnclaimed()
        {
            if (Done.Task.IsCompletedSuccessfully && Done.Task.Result.Chunk is { } chunk) chunk.Release();
        }
    }
}
