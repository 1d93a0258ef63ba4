using System.Buffers;
using System.Net;
using System.Net.Sockets;
using BlobCache.Protocol.Gossip;
using BlobCache.Protocol.Security;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Gossip;

/// <summary>
/// Accepts state transfers on the gossip port number over TCP: one <see cref="StateStreamFrame"/> per connection,
/// its length checked before a byte of it is read, the whole read under a deadline, a bounded number at once (more
/// are closed unread), then opened with the keyring and decoded by <see cref="GossipCodec.TryDecodeStream"/>. What
/// fails any step is counted and dropped, as a bad datagram is.
/// </summary>
public sealed class StateStreamListener : IAsyncDisposable
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(30);
    private readonly Func<Keyring>? _keys;
    private readonly WireLimits _limits;
    private readonly ILogger _logger;
    private readonly Action<GossipMessage> _onMessage;
    private readonly int _maxConcurrent;
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly CancellationTokenSource _stop = new();
    private Task _acceptLoop = Task.CompletedTask;
    private int _active;
    private long _received, _bytes, _rejected, _unauthenticated;

    /// <param name="keys">The current keyring, read per transfer; null: plain (--insecure).</param>
    /// <param name="onMessage">Called with each decoded message, on a pool thread.</param>
    public StateStreamListener(Func<Keyring>? keys, WireLimits limits, ILogger logger, Action<GossipMessage> onMessage, int maxConcurrent = 16)
    {
        _keys = keys;
        _limits = limits;
        _logger = logger;
        _onMessage = onMessage;
        _maxConcurrent = maxConcurrent;
    }

    public long Received => Interlocked.Read(ref _received);
    public long BytesReceived => Interlocked.Read(ref _bytes);
    /// <summary>Transfers refused: too many at once, too big, too slow, cut short, or not decodable.</summary>
    public long Rejected => Interlocked.Read(ref _rejected);
    /// <summary>Transfers that failed authentication (or came sealed to a node without a keyring).</summary>
    public long Unauthenticated => Interlocked.Read(ref _unauthenticated);

    /// <summary>Binds and starts accepting. Throws <see cref="SocketException"/> when the port is taken.</summary>
    public void Start(IPEndPoint bind)
    {
        _socket.Bind(bind);
        _socket.Listen(512);
        _acceptLoop = Task.Run(AcceptLoop);
    }

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await _socket.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // a connection reset before it was accepted
            }
            if (Interlocked.Increment(ref _active) > _maxConcurrent)
            {
                Interlocked.Decrement(ref _active);
                EndPoint? from = connection.RemoteEndPoint;
                connection.Dispose();
                Reject(from, $"more than {_maxConcurrent} transfers at once");
                continue;
            }
            _ = Task.Run(() => ReceiveAsync(connection));
        }
    }

    private async Task ReceiveAsync(Socket connection)
    {
        byte[]? frame = null;
        EndPoint? from = null;
        try
        {
            from = connection.RemoteEndPoint;
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            deadline.CancelAfter(ReadTimeout);
            byte[] prefix = new byte[StateStreamFrame.LengthBytes];
            if (!await ReadExactlyAsync(connection, prefix, deadline.Token).ConfigureAwait(false))
            {
                Reject(from, "closed before the frame's length");
                return;
            }
            string? error = StateStreamFrame.ReadLength(prefix, _limits, out int length);
            if (error is not null)
            {
                Reject(from, error);
                return;
            }
            frame = ArrayPool<byte>.Shared.Rent(length);
            if (!await ReadExactlyAsync(connection, frame.AsMemory(0, length), deadline.Token).ConfigureAwait(false))
            {
                Reject(from, $"closed before the end of a {length}-byte frame");
                return;
            }
            Interlocked.Add(ref _bytes, StateStreamFrame.LengthBytes + length);
            Memory<byte>? payload = StateStreamFrame.Open(frame.AsMemory(0, length), _keys?.Invoke(), out error);
            if (payload is not { } plain)
            {
                long n = Interlocked.Increment(ref _unauthenticated);
                if (n <= 10 || n % 1000 == 0) _logger.LogWarning("dropped a state transfer from {From}: {Error} ({Dropped} so far)", from, error, n);
                return;
            }
            if (!GossipCodec.TryDecodeStream(plain, _limits, out GossipMessage? message, out error))
            {
                Reject(from, error);
                return;
            }
            Interlocked.Increment(ref _received);
            _onMessage(message);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            if (!_stop.IsCancellationRequested) Reject(from, e is OperationCanceledException ? $"not complete within {ReadTimeout.TotalSeconds:F0} s" : e.Message);
        }
        finally
        {
            if (frame is not null) ArrayPool<byte>.Shared.Return(frame);
            connection.Dispose();
            Interlocked.Decrement(ref _active);
        }
    }

    /// <summary>False when the peer closed first.</summary>
    private static async Task<bool> ReadExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken ct)
    {
        while (!buffer.IsEmpty)
        {
            int n = await socket.ReceiveAsync(buffer, SocketFlags.None, ct).ConfigureAwait(false);
            if (n == 0) return false;
            buffer = buffer[n..];
        }
        return true;
    }

    private void Reject(object? from, string? why)
    {
        long n = Interlocked.Increment(ref _rejected);
        if (n <= 10 || n % 1000 == 0) _logger.LogWarning("dropped a state transfer from {From}: {Error} ({Dropped} so far)", from, why, n);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
