using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace BlobCache.Http;

/// <summary>
/// An HTTP/1.1 server for ASP.NET Core in nginx's shape (Linux only): a few event-loop threads, non-blocking
/// sockets, and each request run on the loop thread that read it, answered with one gathered send of headers and
/// body. A handler that completes synchronously (a read served from memory) costs no thread switch; one that
/// awaits (a cache miss) finishes wherever it resumes, writing to its socket itself. Kestrel hands every request
/// to the thread pool and back, which on a small machine costs about half the rate of small reads.
/// </summary>
public sealed class LoopServer : IServer
{
    private readonly IPEndPoint _endPoint;
    private readonly ILogger _log;
    private readonly int _loopCount;
    private readonly ConcurrentDictionary<long, LoopConnection> _open = new();
    private EventLoop[] _loops = [];
    private volatile bool _stopping;
    private long _nextConnectionId = 15; // epoll data below 16 tags the loops' own descriptors
    private int _connections;

    public const int DefaultMaxConnections = 10_000;
    public const int DefaultMaxRequestBodyBytes = 1024 * 1024;
    public const int DefaultMaxBufferedBodyBytes = 32 * 1024 * 1024;
    public static readonly TimeSpan DefaultReceiveTimeout = TimeSpan.FromSeconds(10);

    public IFeatureCollection Features { get; } = new FeatureCollection();

    internal Func<IFeatureCollection, object>? CreateContext { get; private set; }
    internal Func<object, Task>? ProcessRequest { get; private set; }
    internal Action<object, Exception?>? DisposeContext { get; private set; }
    internal ILogger Log => _log;
    internal bool Stopping => _stopping;
    internal DateHeader Clock { get; } = new();

    /// <summary>
    /// Connections open at most. Near it (within <see cref="ReservedConnections"/>) a new connection makes room by
    /// shedding the connections that have waited longest for their client (idle, or a request still arriving); one
    /// that finds nothing to shed gets a reserved slot; past the limit it is closed at accept.
    /// </summary>
    public int MaxConnections { get; init; } = DefaultMaxConnections;

    /// <summary>
    /// The last slots below <see cref="MaxConnections"/>, for probes when every other connection is busy: a connection
    /// admitted into them gets one request, and only to one of <see cref="ReservedPaths"/> (others get 503).
    /// </summary>
    public int ReservedConnections { get; init; } = 16;

    /// <summary>The paths (without query) a connection in the reserve may ask for: the probes' and the scraper's.</summary>
    public IReadOnlyList<string> ReservedPaths { get; init; } = [];

    /// <summary>An idle keep-alive connection is closed after this (Kestrel's default too).</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(130);

    /// <summary>A request head or body that stops arriving, or a response the client stops taking, is given up after this.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A request's head and body must arrive whole within this of their first byte (a new connection's first request:
    /// of the accept), however steadily they trickle in: a client sending a byte now and then holds no slot for long.
    /// </summary>
    public TimeSpan ReceiveTimeout { get; init; } = DefaultReceiveTimeout;

    private Timer? _sweep;
    public int MaxRequestBodyBytes { get; init; } = DefaultMaxRequestBodyBytes;

    /// <summary>
    /// Request bodies kept in memory at once, all connections together (a chunked body counts as
    /// <see cref="MaxRequestBodyBytes"/>); a body past it gets 503. Bodies of GET and HEAD are dropped, never kept.
    /// </summary>
    public int MaxBufferedBodyBytes { get; init; } = DefaultMaxBufferedBodyBytes;

    /// <summary>How the server words a response it makes itself, from the status, a message and the request's id.</summary>
    public Func<int, string, string, ErrorAnswer> Errors { get; init; } = ErrorAnswer.PlainText;

    /// <summary>The port listened on (the one the kernel chose when asked for port 0).</summary>
    public int Port { get; private set; }

    /// <param name="loops">Event-loop threads; 0 = one per processor, up to 8.</param>
    public LoopServer(IPEndPoint endPoint, ILoggerFactory loggers, int loops = 0)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("the event-loop HTTP server runs on Linux only (epoll)");
        _endPoint = endPoint;
        _log = loggers.CreateLogger("blobcache.http");
        _loopCount = loops > 0 ? loops : Math.Clamp(Environment.ProcessorCount, 1, 8);
        Features.Set<IServerAddressesFeature>(new ServerAddressesFeature());
    }

    public Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken) where TContext : notnull
    {
        CreateContext = f => application.CreateContext(f);
        ProcessRequest = c => application.ProcessRequestAsync((TContext)c);
        DisposeContext = (c, e) => application.DisposeContext((TContext)c, e);
        var loops = new List<EventLoop>();
        if (_endPoint.Port != 0) EventLoop.EnsurePortFree(_endPoint);
        try
        {
            var first = new EventLoop(this, _endPoint, 0, _log);
            loops.Add(first);
            Port = _endPoint.Port != 0 ? _endPoint.Port : first.BoundPort();
            var shared = new IPEndPoint(_endPoint.Address, Port); // port 0: every loop joins the port the first one got
            for (int i = 1; i < _loopCount; i++) loops.Add(new EventLoop(this, shared, i, _log));
        }
        catch
        {
            foreach (EventLoop l in loops) l.Stop(TimeSpan.Zero);
            throw;
        }
        _loops = [.. loops];
        foreach (EventLoop l in _loops) l.Start();
        long shortest = Math.Min(Math.Min(StallTimeout.Ticks, KeepAliveTimeout.Ticks), ReceiveTimeout.Ticks);
        TimeSpan every = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond * 100, shortest / 4));
        _sweep = new Timer(_ => Sweep(), null, every, every);
        Features.Get<IServerAddressesFeature>()!.Addresses.Add(string.Create(CultureInfo.InvariantCulture, $"http://{new IPEndPoint(_endPoint.Address, Port)}"));
        _log.LogDebug("http: {Loops} event loops on {EndPoint}", _loops.Length, new IPEndPoint(_endPoint.Address, Port));
        return Task.CompletedTask;
    }

    // Idle, stalled and slow connections hold a descriptor and a buffer each: close them after their timeouts.
    private void Sweep()
    {
        long now = Environment.TickCount64;
        long idle = (long)KeepAliveTimeout.TotalMilliseconds, stall = (long)StallTimeout.TotalMilliseconds, receive = (long)ReceiveTimeout.TotalMilliseconds;
        foreach (LoopConnection c in _open.Values)
        {
            if (c.CloseIfStale(now, idle, stall, receive)) Count(Refusal.TimedOut);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        if (_sweep is not null) await _sweep.DisposeAsync().ConfigureAwait(false);
        foreach (EventLoop l in _loops) l.Stop(TimeSpan.FromSeconds(5));
        // Idle connections close now; one inside a request closes when its response is done, or when time is up.
        foreach (LoopConnection c in _open.Values) c.CloseIfIdle();
        try
        {
            while (!_open.IsEmpty) await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            foreach (LoopConnection c in _open.Values) c.Abort();
        }
        _loops = [];
    }

    public void Dispose()
    {
        if (!_stopping) StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(5)).Token).GetAwaiter().GetResult();
    }

    /// <summary>Connections open now.</summary>
    public int OpenConnections => Volatile.Read(ref _connections);

    /// <summary>Connections and requests turned away for <paramref name="reason"/> so far.</summary>
    public long Refused(Refusal reason) => Interlocked.Read(ref _refused[(int)reason]);

    /// <summary>Request body memory set aside now: each kept body's length, a chunked one's limit (see <see cref="MaxBufferedBodyBytes"/>).</summary>
    public long BufferedBodyBytes => Interlocked.Read(ref _bufferedBodyBytes);

    private readonly long[] _refused = new long[Enum.GetValues<Refusal>().Length];
    private long _bufferedBodyBytes;

    internal void Count(Refusal reason) => Interlocked.Increment(ref _refused[(int)reason]);

    /// <summary>Takes <paramref name="bytes"/> of the body budget; false when it would pass the limit.</summary>
    internal bool TryReserveBody(int bytes)
    {
        if (Interlocked.Add(ref _bufferedBodyBytes, bytes) <= MaxBufferedBodyBytes) return true;
        Interlocked.Add(ref _bufferedBodyBytes, -bytes);
        return false;
    }

    internal void ReleaseBody(int bytes) => Interlocked.Add(ref _bufferedBodyBytes, -bytes);

    internal bool IsReservedPath(string target)
    {
        int q = target.IndexOf('?', StringComparison.Ordinal);
        ReadOnlySpan<char> path = q < 0 ? target : target.AsSpan(0, q);
        foreach (string p in ReservedPaths)
        {
            if (path.SequenceEqual(p)) return true;
        }
        return false;
    }

    private int NormalSlots => MaxConnections - Math.Min(ReservedConnections, MaxConnections / 2);

    /// <summary>Decides on a connection just accepted (see <see cref="MaxConnections"/>).</summary>
    internal Admission Admit()
    {
        int open = Interlocked.Increment(ref _connections);
        if (open <= NormalSlots || ShedForRoom()) return Admission.Normal;
        if (open <= MaxConnections) return Admission.Reserved;
        Interlocked.Decrement(ref _connections);
        Count(Refusal.OverLimit);
        return Admission.Refused;
    }

    private readonly Lock _shedding = new();
    private readonly PriorityQueue<LoopConnection, long> _longestWaiting = new();

    /// <summary>
    /// Closes the connections that have waited longest for their client, a batch at a time so that a stream of new
    /// connections at the limit costs one pass over the open ones per batch, not per accept. False if none could be.
    /// </summary>
    private bool ShedForRoom()
    {
        lock (_shedding)
        {
            if (Volatile.Read(ref _connections) <= NormalSlots) return true; // another accept's batch made room
            long now = Environment.TickCount64;
            int batch = Math.Max(1, MaxConnections / 64);
            _longestWaiting.Clear();
            foreach (LoopConnection c in _open.Values)
            {
                long waited = c.WaitingFor(now);
                if (waited < 0) continue;
                // A min-heap of the longest waits seen: a shorter wait than all of them goes straight back out.
                if (_longestWaiting.Count < batch) _longestWaiting.Enqueue(c, waited);
                else _longestWaiting.EnqueueDequeue(c, waited);
            }
            int shed = 0;
            while (_longestWaiting.TryDequeue(out LoopConnection? c, out _))
            {
                if (c.CloseIfIdle()) shed++;
            }
            Interlocked.Add(ref _refused[(int)Refusal.Shed], shed);
            if (shed > 0) _log.LogDebug("http: {Shed} waiting connections shed at the limit of {Max}", shed, MaxConnections);
            return shed > 0;
        }
    }

    internal long Opened(LoopConnection connection)
    {
        long id = Interlocked.Increment(ref _nextConnectionId);
        _open[id] = connection;
        return id;
    }

    /// <summary>The loop with the fewest connections (the accepting one on a tie: its caches are warm).</summary>
    internal EventLoop LeastBusyLoop(EventLoop accepting)
    {
        EventLoop best = accepting;
        foreach (EventLoop l in _loops)
            if (l.Connections < best.Connections) best = l;
        return best;
    }

    internal bool TryGetConnection(long id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out LoopConnection? connection) => _open.TryGetValue(id, out connection);

    internal void Closed(long id)
    {
        if (_open.TryRemove(id, out _)) Interlocked.Decrement(ref _connections);
    }

    internal enum Admission { Normal, Reserved, Refused }

    private sealed class ServerAddressesFeature : IServerAddressesFeature
    {
        public ICollection<string> Addresses { get; } = new List<string>();
        public bool PreferHostingUrls { get; set; }
    }
}

/// <summary>The Date header line, formatted once a second rather than once a response.</summary>
internal sealed class DateHeader
{
    private long _second = -1;
    private byte[] _line = [];

    public ReadOnlySpan<byte> Line
    {
        get
        {
            Tick();
            return Volatile.Read(ref _line);
        }
    }

    private void Tick()
    {
        long now = Environment.TickCount64 / 1000;
        if (now == Volatile.Read(ref _second)) return;
        Volatile.Write(ref _line, Encoding.ASCII.GetBytes($"Date: {DateTime.UtcNow.ToString("R", CultureInfo.InvariantCulture)}\r\n"));
        Volatile.Write(ref _second, now);
    }
}
