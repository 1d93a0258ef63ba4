using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using BlobCache.Node.Config;
using BlobCache.Node.Gossip;
using BlobCache.Node.Origin;
using BlobCache.Node.Reading;
using BlobCache.Node.Telemetry;
using BlobCache.Protocol.Security;
using BlobCache.Store;
using LiteNetLib;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Peers.Udp;

/// <summary>
/// The owner's side of the UDP chunk transport: a LiteNetLib server on Host:UdpPort that answers Fetch frames from
/// <see cref="ChunkReader.ServePeerAsync"/>, like <see cref="GrpcChunkService"/> does for gRPC. "Accepted" goes out
/// as soon as a valid request arrives (before any fill), then the Answer, then the chunk in pieces straight from its
/// pooled buffer, a few pieces in flight per request (paced by LiteNetLib delivery events). With a keyring, a
/// connection is accepted only with a valid <see cref="ConnectToken"/>: a peer without a key gets nothing.
/// </summary>
public sealed class UdpChunkServer : INetEventListener, IAsyncDisposable
{
    /// <summary>Pieces of one request queued in LiteNetLib and not yet acknowledged by the requester.</summary>
    public const int PiecesInFlight = 4;
    /// <summary>Concurrent requests one connection may have open; more are answered with an Error.</summary>
    public const int MaxRequestsPerConnection = 256;
    public const int MaxConnections = 4096;

    private readonly NodeOptions _options;
    private readonly ILogger _logger;
    // Built again when Admission is set: the pipeline holds the admission it enforces.
    private readonly Func<PeerAdmission?, PeerChunkHandler> _newHandler;
    private PeerChunkHandler _handler;
    private PeerAdmission? _admission;
    private readonly NetManager _manager;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Func<Keyring>? _keys;
    private readonly ConnectReplayGuard _replays = new();
    private string _selfAddress = "";
    private long _droppedFrames;
    private long _rejectedConnections;
    private long _unauthenticated;
    private int _disposed;

    /// <param name="keys">The current keyring (connection requests must be signed under one of its keys); null: --insecure.</param>
    public UdpChunkServer(NodeOptions options, ChunkReader reader, BlobMetadataCache metadata, IBlobOrigin origin, NodeMetrics metrics, ILogger logger, Func<Keyring>? keys,
        PeerSends? sends = null)
    {
        _keys = keys;
        _options = options;
        _logger = logger;
        _newHandler = admission => new PeerChunkHandler(reader, metadata, origin.AccountName, metrics, admission, sends, logger);
        _handler = _newHandler(null);
        _manager = new NetManager(this);
        UdpTransport.Configure(_manager);
    }

    /// <summary>Bounds on concurrent and per-peer requests, shared with the gRPC server (none: unbounded).</summary>
    public PeerAdmission? Admission
    {
        get => _admission;
        init
        {
            _admission = value;
            _handler = _newHandler(value);
        }
    }

    /// <summary>Frames that failed to decode or came where they make no sense; each was dropped.</summary>
    public long DroppedFrames => Interlocked.Read(ref _droppedFrames);

    /// <summary>Connection requests refused, for any reason (full, shutting down, or failed authentication).</summary>
    public long RejectedConnections => Interlocked.Read(ref _rejectedConnections);

    /// <summary>Connection requests refused because they failed authentication (no, stale or bad credential).</summary>
    public long UnauthenticatedConnections => Interlocked.Read(ref _unauthenticated);

    public int Port => _manager.LocalPort;

    /// <summary>Binds Host:UdpPort (port 0: any free port); throws <see cref="SocketException"/> when it cannot.</summary>
    public void Start()
    {
        IPAddress bind = IPAddress.Parse(GossipHost.BindAddress(_options.Host));
        if (!_manager.Start(bind, IPAddress.IPv6Any, _options.UdpPort))
            throw new SocketException((int)SocketError.AddressAlreadyInUse);
        // What requesters sign: the address gossip advertises for this node (see GossipHost.Self).
        _selfAddress = $"{_options.Advertised}:{Port}";
        _logger.LogInformation("udp chunk transport listening on {Host}:{Port} ({Auth})", bind, Port,
            _keys is null ? "no authentication: --insecure" : "connections authenticated with the gossip keyring");
    }

    // ---- LiteNetLib events (its threads; never block, never throw) ----

    public void OnConnectionRequest(ConnectionRequest request)
    {
        if (_manager.ConnectedPeersCount >= MaxConnections || Volatile.Read(ref _disposed) != 0)
        {
            Interlocked.Increment(ref _rejectedConnections);
            request.Reject();
            return;
        }
        if (_keys is null)
        {
            // --insecure: any peer that names the protocol is accepted.
            if (request.AcceptIfKey(UdpTransport.ConnectionKey) is null)
            {
                Interlocked.Increment(ref _rejectedConnections);
                _logger.LogDebug("udp: refused a connection from {EndPoint} (wrong protocol key)", request.RemoteEndPoint);
            }
            return;
        }
        // Checked before LiteNetLib creates a peer: a refused requester costs one HMAC and holds no state.
        ReadOnlySpan<byte> token = request.Data.GetRemainingBytesSpan();
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        ConnectCheck check = ConnectToken.Check(_keys(), token, _selfAddress, now, out string? claimed);
        if (check == ConnectCheck.Ok && !_replays.TryAdmit(token, request.RemoteEndPoint, now)) check = ConnectCheck.Replayed;
        if (check == ConnectCheck.Ok)
        {
            request.Accept();
            return;
        }
        Interlocked.Increment(ref _rejectedConnections);
        long n = Interlocked.Increment(ref _unauthenticated);
        string why = ConnectToken.Describe(check);
        if (n <= 10 || n % 1000 == 0)
            _logger.LogWarning("udp: refused a connection from {EndPoint}{Claimed}: {Why} ({Count} so far)", request.RemoteEndPoint,
                claimed is null ? "" : $" claiming to be {claimed}", why, n);
        // The requester learns why (its operator needs to know a key or a clock is wrong); it learns nothing secret.
        request.Reject(System.Text.Encoding.UTF8.GetBytes(why));
    }

    public void OnPeerConnected(NetPeer peer)
    {
        Connection(peer);
        _logger.LogDebug("udp: peer {EndPoint} connected", (IPEndPoint)peer);
    }

    public void OnPeerDisconnected(NetPeer peer, DisconnectInfo disconnectInfo)
    {
        if (peer.Tag is ServerConnection c)
        {
            c.Close();
            _logger.LogDebug("udp: peer {EndPoint} disconnected ({Reason}), {Open} requests abandoned", (IPEndPoint)peer, disconnectInfo.Reason, c.Transfers.Count);
        }
    }

    public void OnNetworkError(IPEndPoint endPoint, SocketError socketError) =>
        _logger.LogDebug("udp: socket error {Error} with {EndPoint}", socketError, endPoint);

    public void OnNetworkReceive(NetPeer peer, NetPacketReader reader, byte channelNumber, DeliveryMethod deliveryMethod)
    {
        try
        {
            if (deliveryMethod != DeliveryMethod.ReliableOrdered)
            {
                Drop(peer, "not reliable-ordered");
                return;
            }
            if (!UdpFrames.TryDecode(reader.GetRemainingBytesSpan(), out UdpFrame frame, out string? error))
            {
                Drop(peer, error);
                return;
            }
            ServerConnection connection = Connection(peer);
            switch (frame.Kind)
            {
                case UdpFrameKind.Fetch:
                    OnFetch(connection, channelNumber, frame.RequestId, frame.Fetch!);
                    break;
                case UdpFrameKind.Cancel:
                    if (connection.Transfers.TryGetValue(frame.RequestId, out ServerTransfer? t)) t.Cancel();
                    break;
                default:
                    Drop(peer, $"a {frame.Kind} frame sent to the owner");
                    break;
            }
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

    public void OnMessageDelivered(NetPeer peer, object userData)
    {
        if (userData is ServerTransfer t) t.PieceDelivered();
    }

    public void OnNtpResponse(LiteNetLib.Utils.NtpPacket packet)
    {
    }

    public void OnPeerAddressChanged(NetPeer peer, IPEndPoint previousAddress)
    {
    }

    private void Drop(NetPeer peer, string? why)
    {
        long n = Interlocked.Increment(ref _droppedFrames);
        if (n <= 10 || n % 1000 == 0)
            _logger.LogDebug("udp: dropped a bad frame from {EndPoint}{Why} ({Count} so far)", (IPEndPoint)peer, why is null ? "" : ": " + why, n);
    }

    private static ServerConnection Connection(NetPeer peer)
    {
        if (peer.Tag is ServerConnection c) return c;
        lock (peer)
        {
            if (peer.Tag is not ServerConnection existing)
            {
                existing = new ServerConnection(peer);
                peer.Tag = existing;
            }
            return existing;
        }
    }

    // ---- serving ----

    private void OnFetch(ServerConnection connection, byte channel, uint requestId, UdpFetch fetch)
    {
        if (connection.Transfers.Count >= MaxRequestsPerConnection)
        {
            SendError(connection.Peer, channel, requestId, "too many open requests on this connection");
            return;
        }
        var transfer = new ServerTransfer(connection, channel, requestId, _shutdown.Token);
        if (!connection.Transfers.TryAdd(requestId, transfer))
        {
            transfer.Dispose();
            Drop(connection.Peer, $"request id {requestId} is already open");
            return;
        }
        _ = Task.Run(() => ServeAsync(transfer, new ChunkId(fetch.Account, fetch.Container, fetch.Blob, fetch.ETag, fetch.Index), fetch));
    }

    private async Task ServeAsync(ServerTransfer t, ChunkId id, UdpFetch fetch)
    {
        NetPeer peer = t.Connection.Peer;
        try
        {
            PeerServeOutcome s;
            PeerChunkRequest request;
            try
            {
                request = new PeerChunkRequest(id, fetch.BlobLength, fetch.Fill, fetch.WarmOnly, fetch.From);
                s = await _handler.ServeAsync(request, ((IPEndPoint)peer).Address,
                    static a => a.Server.SendAccepted(a.Transfer), (Server: this, Transfer: t), t.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (t.Token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _logger.LogWarning(e, "udp: serving {Chunk} to {Peer} failed", id, fetch.From);
                SendError(peer, t.Channel, t.RequestId, "internal error: " + e.Message);
                return;
            }
            await AnswerAsync(t, request, s).ConfigureAwait(false);
        }
        finally
        {
            t.Connection.Transfers.TryRemove(new KeyValuePair<uint, ServerTransfer>(t.RequestId, t));
            t.Dispose();
        }
    }

    private ValueTask SendAccepted(ServerTransfer t)
    {
        Span<byte> accepted = stackalloc byte[UdpFrames.HeaderBytes];
        Send(t.Connection.Peer, t.Channel, accepted[..UdpFrames.WriteAccepted(accepted, t.RequestId)], null);
        return ValueTask.CompletedTask;
    }

    /// <summary>Encodes the pipeline's outcome: the chunk, "not found", "busy" with holders, "blob changed", or an error in words.</summary>
    private async Task AnswerAsync(ServerTransfer t, PeerChunkRequest request, PeerServeOutcome s)
    {
        bool warmOnly = request.WarmOnly;
        NetPeer peer = t.Connection.Peer;
        bool delivered = false;
        try
        {
            if (s.Chunk is not { } chunk)
            {
                if (s.Status == PeerServeStatus.NotFound)
                {
                    Span<byte> notFound = stackalloc byte[UdpFrames.HeaderBytes + 1];
                    Send(peer, t.Channel, notFound[..UdpFrames.WriteNotFound(notFound, t.RequestId)], null);
                }
                else if (s.Status == PeerServeStatus.Busy)
                {
                    Span<byte> busy = stackalloc byte[UdpFrames.HeaderBytes + 1 + PeerHolders.MaxEncodedBytes];
                    Send(peer, t.Channel, busy[..UdpFrames.WriteBusy(busy, t.RequestId, s.Holders)], null);
                }
                else SendError(peer, t.Channel, t.RequestId, s.Message, s.Status == PeerServeStatus.BlobChanged ? UdpAnswerStatus.BlobChanged : UdpAnswerStatus.Error);
                return;
            }
            await SendChunkAsync(t, chunk, s.SourceCode, warmOnly).ConfigureAwait(false);
            delivered = !warmOnly;
        }
        catch (OperationCanceledException) when (t.Token.IsCancellationRequested)
        {
            // The requester cancelled or went away; the chunk reference is released below.
        }
        finally
        {
            _handler.Finish(request, s, delivered);
        }
    }

    private async Task SendChunkAsync(ServerTransfer t, ChunkBuffer chunk, byte sourceCode, bool warmOnly)
    {
        NetPeer peer = t.Connection.Peer;
        byte[] frame = ArrayPool<byte>.Shared.Rent(UdpFrames.PieceHeaderBytes + UdpFrames.PieceBytes);
        try
        {
            Send(peer, t.Channel, frame.AsSpan(0, UdpFrames.WriteOk(frame, t.RequestId, chunk.Length, chunk.Checksum, sourceCode)), null);
            if (warmOnly) return;
            int offset = 0;
            while (offset < chunk.Length)
            {
                await t.WaitForCreditAsync().ConfigureAwait(false);
                int n = Math.Min(UdpFrames.PieceBytes, chunk.Length - offset);
                int header = UdpFrames.WritePieceHeader(frame, t.RequestId, offset);
                chunk.Span.Slice(offset, n).CopyTo(frame.AsSpan(header));
                // LiteNetLib copies the bytes into its own packets before Send returns, so the array is reused at once.
                Send(peer, t.Channel, frame.AsSpan(0, header + n), t);
                offset += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    private void SendError(NetPeer peer, byte channel, uint requestId, string message, UdpAnswerStatus status = UdpAnswerStatus.Error)
    {
        byte[] frame = ArrayPool<byte>.Shared.Rent(UdpFrames.MaxAnswerBytes);
        try
        {
            Send(peer, channel, frame.AsSpan(0, UdpFrames.WriteError(frame, requestId, message, status)), null);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    private void Send(NetPeer peer, byte channel, ReadOnlySpan<byte> frame, object? deliveryTag)
    {
        if (deliveryTag is null) peer.Send(frame, channel, DeliveryMethod.ReliableOrdered);
        else peer.SendWithDeliveryEvent(frame, channel, DeliveryMethod.ReliableOrdered, deliveryTag);
        _manager.TriggerUpdate();
    }

    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return ValueTask.CompletedTask;
        _shutdown.Cancel();
        _manager.Stop(true);
        _shutdown.Dispose();
        return ValueTask.CompletedTask;
    }

    private sealed class ServerConnection(NetPeer peer)
    {
        private readonly CancellationTokenSource _closed = new();

        public NetPeer Peer { get; } = peer;
        public ConcurrentDictionary<uint, ServerTransfer> Transfers { get; } = new();
        public CancellationToken Closed => _closed.Token;

        public void Close()
        {
            try
            {
                _closed.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    /// <summary>One request being served: its cancellation and its piece credits.</summary>
    private sealed class ServerTransfer : IDisposable
    {
        private readonly CancellationTokenSource _cts;
        private readonly SemaphoreSlim _credits = new(PiecesInFlight, int.MaxValue);
        private int _disposed;

        public ServerTransfer(ServerConnection connection, byte channel, uint requestId, CancellationToken shutdown)
        {
            Connection = connection;
            Channel = channel;
            RequestId = requestId;
            _cts = CancellationTokenSource.CreateLinkedTokenSource(connection.Closed, shutdown);
            Token = _cts.Token;
        }

        public ServerConnection Connection { get; }
        public byte Channel { get; }
        public uint RequestId { get; }
        public CancellationToken Token { get; }

        public Task WaitForCreditAsync() => _credits.WaitAsync(Token);

        public void PieceDelivered()
        {
            if (Volatile.Read(ref _disposed) != 0) return;
            try
            {
                _credits.Release();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        public void Cancel()
        {
            try
            {
                _cts.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            _cts.Dispose();
            _credits.Dispose();
        }
    }
}
