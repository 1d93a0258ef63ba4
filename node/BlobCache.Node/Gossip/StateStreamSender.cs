using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using BlobCache.Protocol.Gossip;
using BlobCache.Protocol.Security;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Gossip;

/// <summary>
/// Sends state transfers (<see cref="StateStreamFrame"/>) to peers' gossip ports over TCP, off the gossip loop: a
/// bounded queue, a few transfers at a time, each with a connect and a transfer deadline. Encoding and compressing a
/// large view happens here too, not under the gossip lock. A transfer that cannot be queued or fails is counted
/// and dropped: push-pull state is repaired by the next exchange, and a joiner asks again.
/// </summary>
public sealed class StateStreamSender : IAsyncDisposable
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan TransferTimeout = TimeSpan.FromSeconds(30);
    private readonly Func<Keyring>? _keys;
    private readonly ILogger _logger;
    private readonly Channel<(EndPoint To, string Address, GossipMessage Message)> _queue;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _workers;
    private long _sent, _bytes, _failed, _dropped;

    /// <param name="keys">The current keyring, read per transfer; null: plain (--insecure).</param>
    public StateStreamSender(Func<Keyring>? keys, ILogger logger, int concurrency = 4, int queue = 256)
    {
        _keys = keys;
        _logger = logger;
        _queue = Channel.CreateBounded<(EndPoint, string, GossipMessage)>(new BoundedChannelOptions(queue) { FullMode = BoundedChannelFullMode.DropWrite });
        _workers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(Work)).ToArray();
    }

    /// <summary>Transfers completed (the frame written and the connection closed).</summary>
    public long Sent => Interlocked.Read(ref _sent);
    public long BytesSent => Interlocked.Read(ref _bytes);
    /// <summary>Transfers that failed: refused or unanswered connection, timeout, reset.</summary>
    public long Failed => Interlocked.Read(ref _failed);
    /// <summary>Transfers dropped unsent because the queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Queues <paramref name="message"/> for <paramref name="to"/>; never blocks.</summary>
    public void Send(EndPoint to, string address, GossipMessage message)
    {
        if (_queue.Writer.TryWrite((to, address, message))) return;
        long n = Interlocked.Increment(ref _dropped);
        if (n <= 10 || n % 1000 == 0) _logger.LogWarning("state transfer to {To} dropped: {Queued} transfers already queued ({Dropped} so far)", address, _queue.Reader.Count, n);
    }

    private async Task Work()
    {
        try
        {
            await foreach ((EndPoint to, string address, GossipMessage message) in _queue.Reader.ReadAllAsync(_stop.Token).ConfigureAwait(false))
                await TransferAsync(to, address, message).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task TransferAsync(EndPoint to, string address, GossipMessage message)
    {
        byte[] wire = StateStreamFrame.Build(GossipCodec.EncodeStream(message), _keys?.Invoke());
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        deadline.CancelAfter(ConnectTimeout);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(to, deadline.Token).ConfigureAwait(false);
            deadline.CancelAfter(TransferTimeout);
            await socket.SendAsync(wire, SocketFlags.None, deadline.Token).ConfigureAwait(false);
            socket.Shutdown(SocketShutdown.Send);
            Interlocked.Increment(ref _sent);
            Interlocked.Add(ref _bytes, wire.Length);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or IOException)
        {
            if (_stop.IsCancellationRequested) return;
            long n = Interlocked.Increment(ref _failed);
            // Expected now and then (a peer that just died); a steady stream of them is worth seeing.
            LogLevel level = n <= 10 || n % 100 == 0 ? LogLevel.Warning : LogLevel.Debug;
            _logger.Log(level, "state transfer of {Bytes} bytes to {To} failed: {Error} ({Failed} so far)", wire.Length, address,
                e is SocketException s ? s.SocketErrorCode.ToString() : "timed out", n);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_workers).ConfigureAwait(false);
        _stop.Dispose();
    }
}
