using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using BlobCache.Mesh;
using BlobCache.Mesh.Membership;
using BlobCache.Mesh.Placement;
using BlobCache.Node.Config;
using BlobCache.Protocol.Gossip;
using BlobCache.Protocol.Security;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Gossip;

/// <summary>
/// Hosts the mesh's <see cref="SwimNode"/> on a real UDP socket and a real clock: decodes datagrams into
/// <see cref="SwimNode.Receive"/>, runs <see cref="SwimNode.Tick"/> when timers are due, sends the outbox, and
/// publishes a <see cref="MeshSnapshot"/> when membership changes. One lock serialises every call into the node,
/// which is a single-threaded state machine. With a keyring every datagram is sealed (<see cref="GossipSeal"/>)
/// and every one received is opened before it is decoded: one that fails is counted and dropped unparsed.
/// Datagrams stay within one MTU (<see cref="MeshConfig.MaxPacketBytes"/>, seal included); state too big for one
/// (a join's answer, a push-pull) goes by TCP to the same port number (<see cref="StateStreamSender"/>,
/// <see cref="StateStreamListener"/>), sealed the same way. The mesh decides which (<see cref="GossipChannels"/>),
/// as it does in the simulator; a message over the budget that is not state is a bug, counted and logged, not sent.
/// </summary>
public sealed class GossipHost : IMeshView, IAsyncDisposable
{
    private static readonly TimeSpan SnapshotDebounce = TimeSpan.FromMilliseconds(100);
    private readonly NodeOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly MemberDirectory _directory = new();
    private readonly SwimNode _node;
    private readonly Socket _socket;
    private readonly ArrayBufferWriter<byte> _encodeBuffer = new(2048);
    private readonly Func<Keyring>? _keys;
    private byte[] _sealBuffer = new byte[2048];
    private readonly byte[] _openBuffer = new byte[65536];
    private const long DnsTtl = 5; // seconds
    private const int MaxCachedAddresses = 4096;
    private readonly Dictionary<string, (EndPoint? EndPoint, long Expires)> _addresses = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly long _epoch = Stopwatch.GetTimestamp();
    private Task _receiveLoop = Task.CompletedTask, _timerLoop = Task.CompletedTask;
    private volatile MeshSnapshot _current;
    private bool _dirty = true;
    private long _lastSnapshot = long.MinValue;
    private int _version;
    private long _dropped, _unauthenticated, _received, _sent, _sentBytes, _oversize;
    private int _joinRetries;
    private readonly int _datagramBudget;
    private readonly StateStreamSender _streams;
    private readonly StateStreamListener _streamListener;

    /// <summary>
    /// Join retries logged as information before one is a warning (and then every this many). Nodes of a rollout
    /// start together, so a seed is often not listening yet for the first attempts: that is a normal start. A join
    /// nobody has answered for this long (about 25 s at the default intervals) is something to look at.
    /// </summary>
    internal const int JoinRetriesBeforeWarning = 15;

    /// <param name="keys">The current keyring, read per packet (it changes when the key file does); null: plain text (--insecure).</param>
    public GossipHost(NodeOptions options, ILogger logger, Func<Keyring>? keys, MeshConfig? config = null)
    {
        _options = options;
        _logger = logger;
        _keys = keys;
        config ??= MeshConfig.Default with { Suspicions = options.Suspicions };
        _datagramBudget = config.MaxPacketBytes;
        // The node fills datagrams to its byte budget; sealing adds a header, nonce and tag, so the wire size stays within it.
        if (keys is not null) config = config with { MaxPacketBytes = config.MaxPacketBytes - GossipSeal.Overhead };
        _streams = new StateStreamSender(keys, logger);
        var limits = WireLimits.Default with { MaxStreamBytes = options.GossipStreamMaxMb << 20 };
        _streamListener = new StateStreamListener(keys, limits, logger, OnStateTransfer);
        string host = options.Advertised;
        Self = new MemberMeta(options.NodeId, $"{host}:{options.AdvertisedGossipPort}", $"{host}:{options.AdvertisedGrpcPort}", $"{host}:{options.UdpPort}",
            options.Region, options.Zone, (ushort)options.Weight, 1);
        ulong seed = StableHash.Of(options.NodeId) ^ (ulong)Stopwatch.GetTimestamp();
        _node = new SwimNode(config, Self, _directory, seed);
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _current = new MeshSnapshot(0, options.Region, PlacementMap.Empty, [], [], 0);
    }

    public MemberMeta Self { get; }
    public MeshSnapshot Current => _current;
    public bool Joined { get { lock (_gate) return _node.Joined; } }
    /// <summary>Packets that opened (or needed no opening) but failed to decode.</summary>
    public long DroppedPackets => Interlocked.Read(ref _dropped);
    /// <summary>Packets dropped unparsed because they failed authentication (or, under --insecure, came sealed).</summary>
    public long UnauthenticatedPackets => Interlocked.Read(ref _unauthenticated);
    public bool Encrypted => _keys is not null;
    public long ReceivedPackets => Interlocked.Read(ref _received);
    public long SentPackets => Interlocked.Read(ref _sent);
    /// <summary>Bytes of the datagrams sent, as they went on the wire (sealed where a keyring is used).</summary>
    public long SentPacketBytes => Interlocked.Read(ref _sentBytes);
    /// <summary>Messages not sent because they exceed the datagram budget without being state: a bug, each one logged.</summary>
    public long OversizeDatagrams => Interlocked.Read(ref _oversize);
    /// <summary>Alive rumours dropped unsent because the gossip queue held its bound of them (push-pull repairs them).</summary>
    public long RumoursDropped { get { lock (_gate) return _node.DroppedRumours; } }
    /// <summary>State transfers by stream: sent, received, and their bytes.</summary>
    public long StreamsSent => _streams.Sent;
    public long StreamBytesSent => _streams.BytesSent;
    public long StreamsReceived => _streamListener.Received;
    public long StreamBytesReceived => _streamListener.BytesReceived;
    /// <summary>Outgoing transfers that failed (connection refused, timeout) or were dropped with the queue full.</summary>
    public long StreamSendFailures => _streams.Failed + _streams.Dropped;
    /// <summary>Incoming transfers refused: too many at once, too big, too slow, malformed, or not authenticated.</summary>
    public long StreamsRejected => _streamListener.Rejected + _streamListener.Unauthenticated;

    private long Now => (long)Stopwatch.GetElapsedTime(_epoch).TotalMicroseconds;

    /// <summary>Binds the gossip port (UDP, and TCP for state) and joins through the seeds. Throws <see cref="SocketException"/> when the port is taken.</summary>
    public void Start()
    {
        var bind = new IPEndPoint(IPAddress.Parse(BindAddress(_options.Host)), _options.GossipPort);
        _socket.Bind(bind);
        _streamListener.Start(bind);
        lock (_gate)
        {
            _node.Start(Now, _options.Seeds);
            FlushLocked();
            PublishLocked(force: true);
        }
        // Threads of their own, blocked in the kernel between datagrams and deadlines: an idle node's cost is its
        // wake-ups, and a wait on the thread pool costs each one a timer or poller thread's wake-up and a hop to a
        // worker besides.
        _receiveLoop = Task.Factory.StartNew(ReceiveLoop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        _timerLoop = Task.Factory.StartNew(TimerLoop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        _logger.LogInformation("gossip on udp {Address} (state transfers on tcp) as {Id} in {Region}/{Zone}, seeds: {Seeds}",
            Self.GossipAddress, Self.Id, Self.Region, Self.Zone, _options.Seeds.Count == 0 ? "none (first node)" : string.Join(",", _options.Seeds));
    }

    internal static string BindAddress(string host) => host is "*" or "::" ? "0.0.0.0" : IPAddress.TryParse(host, out _) ? host : "0.0.0.0";

    private void ReceiveLoop()
    {
        byte[] buffer = new byte[65536];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            EndPoint from = any; // the receive puts the sender's address in its place
            int received;
            try
            {
                received = _socket.ReceiveFrom(buffer, SocketFlags.None, ref from);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.MessageSize)
            {
                continue; // an ICMP "port unreachable" from a dead peer, or an oversized datagram
            }
            catch (Exception e) when (e is ObjectDisposedException or SocketException && _stop.IsCancellationRequested)
            {
                return; // DisposeAsync closed the socket under the blocked receive
            }
            Interlocked.Increment(ref _received);
            if (!TryOpen(buffer.AsMemory(0, received), from, out ReadOnlyMemory<byte> packet)) continue;
            if (!GossipCodec.TryDecode(packet, WireLimits.Default, out GossipMessage? message, out string? error))
            {
                long dropped = Interlocked.Increment(ref _dropped);
                if (dropped <= 10 || dropped % 1000 == 0) _logger.LogWarning("dropped a gossip packet from {From}: {Error} ({Dropped} so far)", from, error, dropped);
                continue;
            }
            lock (_gate)
            {
                _node.Receive(Now, message);
                FlushLocked();
            }
        }
    }

    /// <summary>The plaintext of a received datagram; false when it is dropped (counted and logged).</summary>
    private bool TryOpen(ReadOnlyMemory<byte> datagram, EndPoint from, out ReadOnlyMemory<byte> packet)
    {
        packet = datagram;
        if (_keys is null)
        {
            if (datagram.IsEmpty || datagram.Span[0] != GossipSeal.Magic) return true;
            Unauthenticated(from, "sealed (encrypted) but this node runs --insecure");
            return false;
        }
        Keyring ring = _keys();
        OpenStatus status = GossipSeal.Open(ring, datagram.Span, _openBuffer, out int length, out _);
        packet = _openBuffer.AsMemory(0, length);
        if (status == OpenStatus.Ok) return true;
        Unauthenticated(from, status == OpenStatus.UnknownKey
            ? $"sealed under key {GossipSeal.FingerprintOf(datagram.Span):x8}, this node holds {ring}"
            : GossipSeal.Describe(status));
        return false;
    }

    private void Unauthenticated(EndPoint from, string why)
    {
        long n = Interlocked.Increment(ref _unauthenticated);
        if (n <= 10 || n % 1000 == 0) _logger.LogWarning("dropped a gossip packet from {From}: {Error} ({Dropped} so far)", from, why, n);
    }

    private void OnStateTransfer(GossipMessage message)
    {
        lock (_gate)
        {
            _node.Receive(Now, message);
            FlushLocked();
        }
    }

    // The timer sleeps until the node's next deadline (a probe, a gossip round, a suspicion's end) or the next
    // snapshot, never on a fixed tick: a 10 ms tick costs an idle sidecar more CPU than the protocol itself. Anything
    // that gives the node an earlier deadline (a datagram, a state transfer, a leave) goes through FlushLocked, which
    // wakes the loop early.
    private static readonly TimeSpan MaxTimerSleep = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MinTimerSleep = TimeSpan.FromMilliseconds(1);
    private readonly SemaphoreSlim _wake = new(0, 1);
    private long _timerWakesAt = long.MinValue;

    /// <summary>Times the timer loop woke, and of those the times a deadline was due (read under no lock: for tests).</summary>
    internal long TimerWakes { get; private set; }
    internal long TimerWakesWithWork { get; private set; }

    private void TimerLoop()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                TimeSpan sleep;
                lock (_gate)
                {
                    long now = Now;
                    TimerWakes++;
                    if (_node.NextDue <= now)
                    {
                        _node.Tick(now);
                        TimerWakesWithWork++;
                    }
                    FlushLocked();
                    PublishLocked(force: false);
                    _timerWakesAt = NextWakeLocked();
                    sleep = TimerSleep(_timerWakesAt - now);
                }
                _wake.Wait(sleep, _stop.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// How long to sleep for a deadline <paramref name="micros"/> away. A wait counts whole milliseconds and its timer
    /// may fire a little early, so the exact figure woke the loop just before the deadline, then again for the rest:
    /// two or three wake-ups for one deadline, half of an idle node's. Rounded up and a millisecond more, the loop
    /// wakes once, at most two milliseconds late, which nothing in the protocol (200 ms rounds, 1 s probes) notices.
    /// </summary>
    internal static TimeSpan TimerSleep(long micros)
    {
        long ms = (Math.Max(micros, 0) + 999) / 1000 + 1;
        return TimeSpan.FromMilliseconds(Math.Clamp(ms, (long)MinTimerSleep.TotalMilliseconds, (long)MaxTimerSleep.TotalMilliseconds));
    }

    /// <summary>When the timer must run next: the node's next deadline, or the end of a pending snapshot's debounce.</summary>
    private long NextWakeLocked()
    {
        long due = _node.NextDue;
        if (_dirty) due = Math.Min(due, _lastSnapshot == long.MinValue ? 0 : _lastSnapshot + (long)SnapshotDebounce.TotalMicroseconds);
        return due;
    }

    /// <summary>Wakes the timer when the node now has something due before the timer meant to wake.</summary>
    private void WakeTimerIfEarlierLocked()
    {
        // Every Release happens under the gate, so checking the count first never overfills the semaphore.
        if (NextWakeLocked() < _timerWakesAt && _wake.CurrentCount == 0)
        {
            _timerWakesAt = long.MinValue;
            _wake.Release();
        }
    }

    private void FlushLocked()
    {
        foreach (Outbound o in _node.Outbox)
        {
            EndPoint? to = Resolve(o.ToAddress);
            if (to is null) continue;
            if (o.Channel == GossipChannel.Stream)
            {
                _streams.Send(to, o.ToAddress, o.Message);
                continue;
            }
            if (o.Channel == GossipChannel.Oversize)
            {
                Oversize(o, o.Bytes);
                continue;
            }
            _encodeBuffer.ResetWrittenCount();
            GossipCodec.Encode(o.Message, _encodeBuffer);
            ReadOnlySpan<byte> datagram = _encodeBuffer.WrittenSpan;
            if (_keys is not null)
            {
                if (_sealBuffer.Length < datagram.Length + GossipSeal.Overhead) _sealBuffer = new byte[datagram.Length + GossipSeal.Overhead];
                datagram = _sealBuffer.AsSpan(0, GossipSeal.Seal(_keys(), datagram, _sealBuffer));
            }
            if (datagram.Length > _datagramBudget)
            {
                Oversize(o, datagram.Length);
                continue;
            }
            try
            {
                _socket.SendTo(datagram, SocketFlags.None, to);
                Interlocked.Increment(ref _sent);
                Interlocked.Add(ref _sentBytes, datagram.Length);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.MessageSize)
            {
                Oversize(o, datagram.Length);
            }
            catch (SocketException e)
            {
                _logger.LogDebug("gossip send to {To} failed: {Error}", o.ToAddress, e.SocketErrorCode);
            }
        }
        _node.Outbox.Clear();
        foreach (MemberEvent e in _node.Events)
        {
            _dirty = true;
            if (e.Kind == MemberEventKind.JoinRetry)
            {
                _joinRetries++;
                _logger.Log(_joinRetries % JoinRetriesBeforeWarning == 0 ? LogLevel.Warning : LogLevel.Information,
                    "not in the mesh yet: no seed answered join attempt {Attempt} (seeds: {Seeds}); trying again", _joinRetries, string.Join(",", _options.Seeds));
                continue;
            }
            string id = e.Member >= 0 && e.Member < _directory.Count ? _directory.IdOf(e.Member) : "?";
            LogLevel level = e.Kind is MemberEventKind.Dead or MemberEventKind.Suspect ? LogLevel.Warning : LogLevel.Information;
            _logger.Log(level, "member {Member} {Event} (incarnation {Incarnation})", id, e.Kind, e.Incarnation);
        }
        _node.Events.Clear();
        WakeTimerIfEarlierLocked();
    }

    /// <summary>A datagram over the budget that is not state: the mesh should never make one, so each is counted and logged.</summary>
    private void Oversize(in Outbound o, int bytes)
    {
        long n = Interlocked.Increment(ref _oversize);
        if (n <= 10 || n % 1000 == 0)
            _logger.LogWarning("gossip {Kind} of {Bytes} bytes to {To} not sent: over the {Budget}-byte datagram budget ({Oversize} so far)",
                o.Message.Kind, bytes, o.ToAddress, _datagramBudget, n);
    }

    // IP literals resolve once. A DNS name (a headless Service listing every pod) is looked up again every few
    // seconds and answers with a random address other than this node's own, so joins spread over the seeds and a
    // node never picks itself as its only seed.
    private EndPoint? Resolve(string address)
    {
        long now = Stopwatch.GetTimestamp();
        if (_addresses.TryGetValue(address, out var cached) && (cached.Expires == long.MaxValue || now < cached.Expires)) return cached.EndPoint;
        long expires = long.MaxValue;
        EndPoint? endpoint = ParseAddress(address, out string? host, out int port);
        if (host is not null)
        {
            expires = now + DnsTtl * Stopwatch.Frequency;
            try
            {
                IPAddress[] all = Dns.GetHostAddresses(host).Where(a => a.AddressFamily == AddressFamily.InterNetwork && a.ToString() != _options.Advertised).ToArray();
                if (all.Length > 0) endpoint = new IPEndPoint(all[Random.Shared.Next(all.Length)], port);
            }
            catch (Exception e) when (e is SocketException or ArgumentException)
            {
                _logger.LogWarning("cannot resolve gossip address {Address}: {Error}", address, e.Message);
            }
        }
        // Addresses come from peers' messages: a stream of distinct bogus ones must not grow the cache forever.
        if (_addresses.Count >= MaxCachedAddresses) _addresses.Clear();
        if (endpoint is null && expires == long.MaxValue) _logger.LogWarning("bad gossip address {Address}", address);
        _addresses[address] = (endpoint, expires);
        return endpoint;
    }

    /// <summary>
    /// Splits a gossip address ("host:port", from a peer's message): an IPv4 literal gives its endpoint, a host name
    /// gives null and the <paramref name="dnsName"/> to look up; anything else gives null and no name. Peers choose
    /// these strings, so whatever IPEndPoint, the resolver or this IPv4 socket would throw on (a port outside
    /// 1..65535, an IPv6 literal, a malformed or over-long name) is refused here instead.
    /// </summary>
    internal static IPEndPoint? ParseAddress(string address, out string? dnsName, out int port)
    {
        dnsName = null;
        port = 0;
        int colon = address.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(address.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > IPEndPoint.MaxPort)
            return null;
        string host = address[..colon];
        if (IPAddress.TryParse(host, out IPAddress? ip))
            return ip.AddressFamily == AddressFamily.InterNetwork ? new IPEndPoint(ip, port) : null;
        if (host.Length <= 253 && Uri.CheckHostName(host) == UriHostNameType.Dns) dnsName = host;
        return null;
    }

    private void PublishLocked(bool force)
    {
        if (!_dirty && !force) return;
        long now = Now;
        if (!force && now - _lastSnapshot < Micros.From(SnapshotDebounce)) return;
        _dirty = false;
        _lastSnapshot = now;
        int count = _directory.Count;
        var metas = new MemberMeta?[count];
        var members = new List<MemberStatus>(count);
        for (int i = 0; i < count; i++)
        {
            MemberMeta? meta = _node.MetaOf(i);
            metas[i] = meta;
            MemberState state = _node.StateOf(i);
            if (meta is null || state == MemberState.None) continue;
            members.Add(new MemberStatus(meta.Id, meta.Region, meta.Zone, state, _node.View[i].Incarnation, meta.GossipAddress));
        }
        members.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
        _current = new MeshSnapshot(_node.Self, _options.Region, ViewPlacement.Build(_node.View, _directory), metas, members, ++_version);
    }

    /// <summary>Announces a graceful leave and keeps gossiping until the news is out or the deadline passes.</summary>
    public async Task LeaveAsync(TimeSpan deadline)
    {
        lock (_gate)
        {
            _node.Leave(Now);
            FlushLocked();
        }
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < deadline)
        {
            lock (_gate)
            {
                if (_node.LeaveSent) break;
            }
            await Task.Delay(20).ConfigureAwait(false);
        }
        _logger.LogInformation("left the mesh after {Ms} ms", sw.ElapsedMilliseconds);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        await _streamListener.DisposeAsync().ConfigureAwait(false);
        await _streams.DisposeAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_receiveLoop, _timerLoop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
        _wake.Dispose();
    }
}
