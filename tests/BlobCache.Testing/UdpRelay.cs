using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace BlobCache.Testing;

/// <summary>
/// A lossy, delaying, reordering UDP relay on 127.0.0.1 in front of one upstream port: what a node's peers reach
/// instead of its real port (it advertises the relay's). Each sender gets a socket of its own towards the upstream,
/// as behind a NAT, so replies to a datagram's source find their way back through the relay too. Both directions
/// suffer <see cref="Faults"/>.
/// </summary>
public sealed class UdpRelay : IAsyncDisposable
{
    private const int MaxSessions = 256;
    private readonly Socket _listener;
    private readonly IPEndPoint _upstream;
    private readonly Random _random;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<IPEndPoint, Session> _sessions = new();
    private readonly BackgroundTasks _tasks = new();
    private long _forwarded, _dropped, _reordered;

    /// <param name="seed">Seeds the loss and delay draws, so a failing run's faults can be told apart from another's.</param>
    public UdpRelay(int upstreamPort, int seed = 1)
    {
        _upstream = new IPEndPoint(IPAddress.Loopback, upstreamPort);
        _random = new Random(seed);
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, Ports.Next()));
    }

    public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

    public string Address => $"127.0.0.1:{Port}";

    /// <summary>The faults applied from now on; may be swapped at any time (e.g. <c>Loss = 1</c> for a partition).</summary>
    public RelayFaults Faults { get; set; } = RelayFaults.None;

    /// <summary>Datagrams delivered, both directions.</summary>
    public long Forwarded => Interlocked.Read(ref _forwarded);

    /// <summary>Datagrams lost on purpose, both directions.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Datagrams delivered after one that arrived at the relay later (same sender, same direction).</summary>
    public long Reordered => Interlocked.Read(ref _reordered);

    public void Start() => _tasks.Track(ReceiveLoopAsync(_listener, from => SessionFor(from) is { } s ? (s.Upstream, _upstream, s.ToUpstream) : null));

    /// <summary>One sender: its socket towards the upstream, and the order of what went each way.</summary>
    private sealed class Session(Socket upstream, IPEndPoint client)
    {
        public Socket Upstream { get; } = upstream;
        public IPEndPoint Client { get; } = client;
        public Direction ToUpstream { get; } = new();
        public Direction ToClient { get; } = new();
    }

    private sealed class Direction
    {
        private readonly Lock _gate = new();
        private long _received, _lastSent = -1;

        public long NextSequence() => Interlocked.Increment(ref _received);

        /// <summary>Records a delivery; true when it overtook an earlier datagram.</summary>
        public bool Sent(long sequence)
        {
            lock (_gate)
            {
                bool overtaken = sequence < _lastSent;
                _lastSent = Math.Max(_lastSent, sequence);
                return overtaken;
            }
        }
    }

    private Session? SessionFor(IPEndPoint client)
    {
        if (_sessions.TryGetValue(client, out Session? existing)) return existing;
        if (_sessions.Count >= MaxSessions) return null;
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var session = new Session(socket, client);
        if (!_sessions.TryAdd(client, session))
        {
            socket.Dispose();
            return _sessions[client];
        }
        _tasks.Track(ReceiveLoopAsync(socket, _ => (_listener, session.Client, session.ToClient)));
        return session;
    }

    // Receives on one socket and relays each datagram where route says (null: nowhere), after its faults.
    private async Task ReceiveLoopAsync(Socket socket, Func<IPEndPoint, (Socket Via, IPEndPoint To, Direction Order)?> route)
    {
        byte[] buffer = new byte[65536];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult r;
            try
            {
                r = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token).ConfigureAwait(false);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.MessageSize)
            {
                continue; // an ICMP "port unreachable" from a stopped node
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            if (route((IPEndPoint)r.RemoteEndPoint) is not { } to) continue;
            long sequence = to.Order.NextSequence();
            (bool lost, TimeSpan delay) = Faults.Draw(_random);
            if (lost)
            {
                Interlocked.Increment(ref _dropped);
                continue;
            }
            _tasks.Track(DeliverAsync(buffer.AsSpan(0, r.ReceivedBytes).ToArray(), to.Via, to.To, to.Order, sequence, delay));
        }
    }

    private async Task DeliverAsync(byte[] datagram, Socket via, IPEndPoint to, Direction order, long sequence, TimeSpan delay)
    {
        try
        {
            if (delay > TimeSpan.Zero) await Task.Delay(delay, _stop.Token).ConfigureAwait(false);
            await via.SendToAsync(datagram, SocketFlags.None, to, _stop.Token).ConfigureAwait(false);
            Interlocked.Increment(ref _forwarded);
            if (order.Sent(sequence)) Interlocked.Increment(ref _reordered);
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // stopping, or the destination went away: a lost datagram either way
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        foreach (Session s in _sessions.Values) s.Upstream.Dispose();
        await _tasks.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        _stop.Dispose();
    }
}
