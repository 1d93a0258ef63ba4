using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace BlobCache.Testing;

/// <summary>
/// A delaying, stalling, cuttable TCP relay on 127.0.0.1 in front of one upstream port, at the byte level (it never
/// looks at what it carries, so TLS and any framing pass through). Every piece read from one side reaches the other
/// after its delay, in order; a "lost" piece stalls its direction for a retransmission timeout (see
/// <see cref="RelayFaults"/>). <see cref="CutAll"/> resets every open connection, as a broken path does.
/// </summary>
public sealed class TcpRelay : IAsyncDisposable
{
    private const int PieceBytes = 64 * 1024;
    private readonly TcpListener _listener;
    private readonly IPEndPoint _upstream;
    private readonly Random _random;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Connection, byte> _open = new();
    private readonly BackgroundTasks _tasks = new();
    private long _connections, _bytes, _stalls, _cut;

    /// <param name="seed">Seeds the loss and delay draws.</param>
    public TcpRelay(int upstreamPort, int seed = 1)
    {
        _upstream = new IPEndPoint(IPAddress.Loopback, upstreamPort);
        _random = new Random(seed);
        _listener = new TcpListener(IPAddress.Loopback, Ports.Next());
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>The faults applied from now on; may be swapped at any time.</summary>
    public RelayFaults Faults { get; set; } = RelayFaults.None;

    /// <summary>Connections accepted so far.</summary>
    public long Connections => Interlocked.Read(ref _connections);

    /// <summary>Bytes delivered, both directions.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>Pieces held for a retransmission timeout.</summary>
    public long Stalls => Interlocked.Read(ref _stalls);

    /// <summary>Connections reset by <see cref="CutAll"/>.</summary>
    public long Cut => Interlocked.Read(ref _cut);

    public void Start()
    {
        _listener.Start(256);
        _tasks.Track(_tasks.AcceptAllAsync(_listener, RelayAsync, _stop.Token));
    }

    /// <summary>Resets every open connection at once (RST both ways); new ones are accepted as before.</summary>
    public int CutAll()
    {
        int n = 0;
        foreach (Connection c in _open.Keys)
        {
            if (c.Reset()) n++;
        }
        Interlocked.Add(ref _cut, n);
        return n;
    }

    private sealed class Connection(Socket client, Socket upstream)
    {
        private int _closed;

        public Socket Client { get; } = client;
        public Socket Upstream { get; } = upstream;

        /// <summary>Closes both sockets with a reset; false when already closed.</summary>
        public bool Reset()
        {
            if (Interlocked.Exchange(ref _closed, 1) != 0) return false;
            foreach (Socket s in new[] { Client, Upstream })
            {
                try
                {
                    s.LingerState = new LingerOption(true, 0);
                    s.Close();
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                }
            }
            return true;
        }
    }

    private readonly record struct Piece(byte[] Buffer, int Length, long DueTimestamp);

    private async Task RelayAsync(Socket client)
    {
        Interlocked.Increment(ref _connections);
        var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.NoDelay = true;
        var connection = new Connection(client, upstream);
        try
        {
            await upstream.ConnectAsync(_upstream, _stop.Token).ConfigureAwait(false);
            _open[connection] = 0;
            // A direction that ends passes the end on; one that fails resets the connection, which ends the other.
            await Task.WhenAll(PumpAsync(connection, client, upstream), PumpAsync(connection, upstream, client)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
        finally
        {
            _open.TryRemove(connection, out _);
            connection.Reset();
        }
    }

    // One direction: a reader queues pieces with their due time, a writer sends each when due, in order.
    private async Task PumpAsync(Connection connection, Socket from, Socket to)
    {
        var queue = Channel.CreateBounded<Piece>(new BoundedChannelOptions(64) { SingleReader = true, SingleWriter = true });
        Task writing = WriteDueAsync(connection, queue.Reader, to);
        try
        {
            while (true)
            {
                byte[] buffer = ArrayPool<byte>.Shared.Rent(PieceBytes);
                int n;
                try
                {
                    n = await from.ReceiveAsync(buffer.AsMemory(0, PieceBytes), SocketFlags.None, _stop.Token).ConfigureAwait(false);
                }
                catch
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    throw;
                }
                if (n == 0)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    break;
                }
                (bool lost, TimeSpan delay) = Faults.Draw(_random);
                if (lost)
                {
                    Interlocked.Increment(ref _stalls);
                    delay += Faults.RetransmitStall;
                }
                long due = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(delay.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
                await queue.Writer.WriteAsync(new Piece(buffer, n, due), _stop.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            connection.Reset();
        }
        queue.Writer.TryComplete();
        await writing.ConfigureAwait(false);
    }

    private async Task WriteDueAsync(Connection connection, ChannelReader<Piece> pieces, Socket to)
    {
        try
        {
            await foreach (Piece p in pieces.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                try
                {
                    TimeSpan wait = System.Diagnostics.Stopwatch.GetElapsedTime(System.Diagnostics.Stopwatch.GetTimestamp(), p.DueTimestamp);
                    if (wait > TimeSpan.Zero) await Task.Delay(wait, _stop.Token).ConfigureAwait(false);
                    int sent = 0;
                    while (sent < p.Length) sent += await to.SendAsync(p.Buffer.AsMemory(sent, p.Length - sent), SocketFlags.None, _stop.Token).ConfigureAwait(false);
                    Interlocked.Add(ref _bytes, p.Length);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(p.Buffer);
                }
            }
            // The sender finished: pass the end of its stream on.
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            connection.Reset();
        }
        finally
        {
            while (pieces.TryRead(out Piece left)) ArrayPool<byte>.Shared.Return(left.Buffer);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        foreach (Connection c in _open.Keys) c.Reset();
        await _tasks.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        _stop.Dispose();
    }
}
