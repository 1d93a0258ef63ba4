using System.Buffers.Text;
using System.Collections;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace BlobCache.Http;

/// <summary>
/// The HTTP side of one <see cref="LoopConnection"/>: for the request now running, every server feature the
/// application sees (it is its own feature collection, as Kestrel's connections are), the response head and body
/// framing, and the callbacks. One per connection, reset for each request; the bytes go out through the
/// connection's <see cref="LoopConnection.SendAsync"/>.
/// </summary>
internal sealed class LoopExchange : IFeatureCollection,
    IHttpRequestFeature, IHttpResponseFeature, IHttpResponseBodyFeature, IHttpConnectionFeature,
    IHttpRequestLifetimeFeature, IHttpRequestIdentifierFeature, IHttpBodyControlFeature, IHttpRequestBodyDetectionFeature
{
    private static readonly byte[] Crlf = "\r\n"u8.ToArray(), LastChunk = "0\r\n\r\n"u8.ToArray();
    private readonly LoopConnection _connection;
    private readonly LoopServer _server;
    private readonly RequestHead _head;
    private readonly RequestBody _body;
    private readonly ResponseStream _responseStream;
    private readonly HeaderDictionary _requestHeaders = new();
    private readonly HeaderDictionary _responseHeaders = new();
    private readonly Dictionary<Type, object?> _otherFeatures = [];
    private int _revision;
    private Stream _requestBody = Stream.Null;
    private CancellationTokenSource? _aborted;
    private string? _traceIdentifier;
    private PipeWriter? _pipeWriter;
    private Stack<(Func<object, Task> Callback, object State)>? _onStarting, _onCompleted;
    private bool _hasStarted, _responseChunked, _headRequest, _noBody, _keepAlive;
    private long _bodyWritten;
    private int _requests;

    public LoopExchange(LoopConnection connection, LoopServer server, RequestHead head, RequestBody body, string connectionId, IPEndPoint? remote)
    {
        _connection = connection;
        _server = server;
        _head = head;
        _body = body;
        _responseStream = new ResponseStream(this);
        RemoteIpAddress = remote?.Address;
        RemotePort = remote?.Port ?? 0;
        LocalIpAddress = null;
        LocalPort = server.Port;
        ConnectionId = connectionId;
    }

    /// <summary>Requests begun on the connection so far.</summary>
    public int Requests => _requests;

    /// <summary>
    /// Runs the request whose head (and body) the connection has read, and answers it; the connection stays open
    /// after it only if <paramref name="mayKeepAlive"/> and the request and response agree.
    /// </summary>
    public async ValueTask RunAsync(bool mayKeepAlive)
    {
        StartRequest(mayKeepAlive);
        object? context = null;
        Exception? failure = null;
        try
        {
            context = _server.CreateContext!(this);
            await _server.ProcessRequest!(context).ConfigureAwait(false);
            if (_pipeWriter is not null) await _pipeWriter.FlushAsync().ConfigureAwait(false);
            await FinishResponseAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            failure = e;
            if (!_connection.Failed) _server.Log.LogError(e, "http: {Method} {Target} failed", Method, RawTarget);
            if (!_hasStarted && !_connection.Failed)
            {
                // Nothing sent yet: the client gets a 500 in the application's error shape, and the connection stays usable.
                _responseHeaders.Clear();
                StatusCode = 500;
                ReasonPhrase = null;
                ErrorAnswer answer = _server.Errors(500, "the server failed to answer the request", TraceIdentifier);
                foreach (KeyValuePair<string, string> h in answer.Headers) _responseHeaders[h.Key] = h.Value;
                _responseHeaders[HeaderNames.ContentType] = answer.ContentType;
                _responseHeaders.ContentLength = answer.Body.Length;
                try
                {
                    await WriteBodyAsync(answer.Body, CancellationToken.None).ConfigureAwait(false);
                    await FinishResponseAsync().ConfigureAwait(false);
                }
                catch (Exception)
                {
                    _keepAlive = false;
                }
            }
            else
            {
                _keepAlive = false; // a response cut short: only closing tells the client
            }
        }
        try
        {
            await RunCallbacksAsync(_onCompleted).ConfigureAwait(false);
            if (context is not null) _server.DisposeContext!(context, failure);
        }
        catch (Exception e)
        {
            // Never out of here: the connection's next step (close or read on) must still happen.
            _server.Log.LogError(e, "http: completing {Method} {Target} failed", Method, RawTarget);
            _keepAlive = false;
        }
        EndRequest();
        _connection.RequestEnded(close: !_keepAlive || _connection.Failed);
    }

    /// <summary>The socket failed (or the request was aborted): the request learns of it, and nothing more is sent.</summary>
    public void ConnectionFailed()
    {
        _keepAlive = false;
        try
        {
            _aborted?.Cancel();
        }
        catch (AggregateException e)
        {
            _server.Log.LogWarning(e, "http: a RequestAborted callback failed");
        }
    }

    /// <summary>A stopping server ran out of time: cancels the request still running.</summary>
    public void CancelRequest()
    {
        try
        {
            _aborted?.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private void StartRequest(bool mayKeepAlive)
    {
        _requests++;
        _requestHeaders.Clear();
        foreach (KeyValuePair<string, string> h in _head.Headers)
        {
            _requestHeaders.Append(h.Key, h.Value);
        }
        _requestBody = _body.OpenRead();
        _responseHeaders.Clear();
        StatusCode = 200;
        ReasonPhrase = null;
        _hasStarted = _responseChunked = false;
        _headRequest = string.Equals(_head.Method, "HEAD", StringComparison.Ordinal);
        _keepAlive = _head.KeepAlive && mayKeepAlive;
        _bodyWritten = 0;
        _traceIdentifier = null;
        _pipeWriter = null;
        _otherFeatures.Clear();
        _revision++;
        if (_aborted is not null && !_aborted.TryReset())
        {
            _aborted.Dispose();
            _aborted = null;
        }
        string target = _head.RawTarget;
        int q = target.IndexOf('?', StringComparison.Ordinal);
        Path = DecodePath(q < 0 ? target : target[..q]);
        QueryString = q < 0 ? "" : target[q..];
    }

    private void EndRequest()
    {
        _onStarting?.Clear();
        _onCompleted?.Clear();
        _otherFeatures.Clear();
        _requestBody = Stream.Null;
    }

    private async ValueTask FinishResponseAsync()
    {
        if (!_hasStarted)
        {
            await StartResponseAsync(completing: true).ConfigureAwait(false);
            await _connection.SendAsync(default, default, default).ConfigureAwait(false); // the head alone
        }
        else if (_connection.HeadPending)
        {
            await _connection.SendAsync(default, default, default).ConfigureAwait(false);
        }
        if (_responseChunked) await _connection.SendAsync(LastChunk, default, default).ConfigureAwait(false);
        else if (!_noBody && _responseHeaders.ContentLength is long length && _bodyWritten < length)
        {
            _server.Log.LogWarning("http: {Method} {Target} wrote {Written} of its {Length} bytes; closing the connection", Method, RawTarget, _bodyWritten, length);
            _keepAlive = false;
        }
    }

    private static async ValueTask RunCallbacksAsync(Stack<(Func<object, Task> Callback, object State)>? callbacks)
    {
        if (callbacks is null) return;
        while (callbacks.TryPop(out var c)) await c.Callback(c.State).ConfigureAwait(false);
    }

    /// <summary>Runs OnStarting callbacks, then writes the response head into the connection's head space (sent with the first bytes).</summary>
    private async ValueTask StartResponseAsync(bool completing)
    {
        if (_onStarting is { Count: > 0 }) await RunCallbacksAsync(_onStarting).ConfigureAwait(false);
        _hasStarted = true;
        int status = StatusCode;
        _noBody = _headRequest || status is 204 or 304 or (>= 100 and < 200);
        long? length = _responseHeaders.ContentLength;
        _responseHeaders.Remove("Transfer-Encoding");
        _responseHeaders.Remove("Connection");
        if (length is null && !_noBody)
        {
            if (completing) _responseHeaders.ContentLength = length = 0;
            else _responseChunked = true;
        }
        WriteHead(status);
    }

    private void WriteHead(int status)
    {
        while (true)
        {
            if (TryWriteHead(status, _connection.HeadSpace, out int written))
            {
                _connection.QueueHead(written);
                return;
            }
            _connection.GrowHeadSpace();
        }
    }

    private bool TryWriteHead(int status, Span<byte> into, out int w)
    {
        w = 0;
        string reason = ReasonPhrase ?? ReasonPhrases.GetReasonPhrase(status);
        if (!Append(into, ref w, "HTTP/1.1 "u8) || !Utf8Formatter.TryFormat(status, into[w..], out int k)) return false;
        w += k;
        if (!Append(into, ref w, " "u8) || !AppendAscii(into, ref w, reason) || !Append(into, ref w, "\r\n"u8)) return false;
        foreach (KeyValuePair<string, StringValues> h in _responseHeaders)
        {
            foreach (string? value in h.Value)
            {
                if (value is null) continue;
                if (!AppendAscii(into, ref w, h.Key) || !Append(into, ref w, ": "u8) || !AppendAscii(into, ref w, value) || !Append(into, ref w, "\r\n"u8)) return false;
            }
        }
        if (_responseChunked && !Append(into, ref w, "Transfer-Encoding: chunked\r\n"u8)) return false;
        if (!_keepAlive && !Append(into, ref w, "Connection: close\r\n"u8)) return false;
        if (_keepAlive && _head.Protocol == "HTTP/1.0" && !Append(into, ref w, "Connection: keep-alive\r\n"u8)) return false;
        if (!_responseHeaders.ContainsKey("Date") && !Append(into, ref w, _server.Clock.Line)) return false;
        return Append(into, ref w, "\r\n"u8);
    }

    private static bool Append(Span<byte> into, ref int w, ReadOnlySpan<byte> bytes)
    {
        if (!bytes.TryCopyTo(into[w..])) return false;
        w += bytes.Length;
        return true;
    }

    // Header text is sent as Latin-1, CR and LF replaced, so no value can end the head early (response splitting).
    private static bool AppendAscii(Span<byte> into, ref int w, string text)
    {
        if (text.Length > into.Length - w) return false;
        foreach (char c in text)
        {
            into[w++] = c is '\r' or '\n' || c > 0xFF ? (byte)' ' : (byte)c;
        }
        return true;
    }

    /// <summary>
    /// The application's bytes: sent at once, in chunked framing when the length was not set. A cancelled token
    /// stops a write before it starts; one already waiting for the socket ends with the connection (the stall limit).
    /// </summary>
    internal ValueTask WriteBodyAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled(cancellationToken);
        if (_connection.Failed) return ValueTask.FromException(new IOException("the client connection is gone"));
        if (!_hasStarted) return StartThenWriteAsync(data, cancellationToken);
        if (_noBody || data.IsEmpty)
        {
            // HEAD and bodiless statuses send no bytes; an empty write only pushes out the head.
            return _connection.HeadPending && data.IsEmpty ? _connection.SendAsync(default, default, default) : default;
        }
        _bodyWritten += data.Length;
        if (_responseHeaders.ContentLength is long length && _bodyWritten > length)
            return ValueTask.FromException(new InvalidOperationException($"response body longer than its Content-Length ({length})"));
        if (!_responseChunked) return _connection.SendAsync(data, default, default);
        byte[] prefix = Encoding.ASCII.GetBytes(data.Length.ToString("X", CultureInfo.InvariantCulture) + "\r\n");
        return _connection.SendAsync(prefix, data, Crlf);
    }

    private async ValueTask StartThenWriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await StartResponseAsync(completing: false).ConfigureAwait(false);
        await WriteBodyAsync(data, cancellationToken).ConfigureAwait(false);
    }

    internal ValueTask FlushAsync() => _hasStarted ? (_connection.HeadPending ? _connection.SendAsync(default, default, default) : default) : StartThenWriteAsync(default, default);

    // ---- the path as ASP.NET Core expects it: percent-decoded, except %2F, which stays encoded (as Kestrel does) ----

    internal static string DecodePath(string raw)
    {
        if (!raw.Contains('%', StringComparison.Ordinal)) return raw;
        byte[] bytes = new byte[raw.Length];
        int w = 0;
        for (int i = 0; i < raw.Length; i++)
        {
            char c = raw[i];
            if (c == '%' && i + 2 < raw.Length && char.IsAsciiHexDigit(raw[i + 1]) && char.IsAsciiHexDigit(raw[i + 2]))
            {
                int v = HexValue(raw[i + 1]) << 4 | HexValue(raw[i + 2]);
                if (v != '/')
                {
                    bytes[w++] = (byte)v;
                    i += 2;
                    continue;
                }
            }
            bytes[w++] = (byte)c;
        }
        return Encoding.UTF8.GetString(bytes, 0, w);
    }

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    // ---- features ----

    public string Protocol { get => _head.Protocol; set { } }
    public string Scheme { get; set; } = "http";
    public string Method { get => _head.Method; set { } }
    public string PathBase { get; set; } = "";
    public string Path { get; set; } = "";
    public string QueryString { get; set; } = "";
    public string RawTarget { get => _head.RawTarget; set { } }
    IHeaderDictionary IHttpRequestFeature.Headers { get => _requestHeaders; set { } }
    Stream IHttpRequestFeature.Body { get => _requestBody; set => _requestBody = value; }

    public int StatusCode { get; set; } = 200;
    public string? ReasonPhrase { get; set; }
    IHeaderDictionary IHttpResponseFeature.Headers { get => _responseHeaders; set { } }
    Stream IHttpResponseFeature.Body { get => _responseStream; set { } }
    public bool HasStarted => _hasStarted;

    public void OnStarting(Func<object, Task> callback, object state) => (_onStarting ??= new()).Push((callback, state));

    public void OnCompleted(Func<object, Task> callback, object state) => (_onCompleted ??= new()).Push((callback, state));

    Stream IHttpResponseBodyFeature.Stream => _responseStream;
    PipeWriter IHttpResponseBodyFeature.Writer => _pipeWriter ??= PipeWriter.Create(_responseStream, new StreamPipeWriterOptions(leaveOpen: true));

    void IHttpResponseBodyFeature.DisableBuffering()
    {
    }

    Task IHttpResponseBodyFeature.StartAsync(CancellationToken cancellationToken) => FlushAsync().AsTask();

    Task IHttpResponseBodyFeature.SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken) =>
        SendFileFallback.SendFileAsync(_responseStream, path, offset, count, cancellationToken);

    async Task IHttpResponseBodyFeature.CompleteAsync()
    {
        if (_pipeWriter is not null) await _pipeWriter.FlushAsync().ConfigureAwait(false);
        await FlushAsync().ConfigureAwait(false);
    }

    public string ConnectionId { get; set; }
    public IPAddress? RemoteIpAddress { get; set; }
    public IPAddress? LocalIpAddress { get; set; }
    public int RemotePort { get; set; }
    public int LocalPort { get; set; }

    public CancellationToken RequestAborted
    {
        get => (_aborted ??= new CancellationTokenSource()).Token;
        set { }
    }

    void IHttpRequestLifetimeFeature.Abort() => _connection.AbortFromApplication();

    public string TraceIdentifier
    {
        get => _traceIdentifier ??= RequestId(_requests);
        set => _traceIdentifier = value;
    }

    /// <summary>The id of this connection's <paramref name="request"/>th request (Kestrel's shape).</summary>
    public string RequestId(int request) => string.Create(CultureInfo.InvariantCulture, $"{ConnectionId}:{request:X8}");

    public bool AllowSynchronousIO { get; set; }

    public bool CanHaveBody => !_body.Discarding && (_head.Chunked || _head.ContentLength > 0);

    // ---- IFeatureCollection: this connection is every server feature; the rest (set by middleware) in a dictionary ----

    public bool IsReadOnly => false;
    public int Revision => _revision;

    public object? this[Type key]
    {
        // What middleware set (including a replacement of one of ours) wins; otherwise ours.
        get => _otherFeatures.Count > 0 && _otherFeatures.TryGetValue(key, out object? set) ? set : IsOwnFeature(key) ? this : null;
        set
        {
            _revision++;
            if (value is null && !IsOwnFeature(key)) _otherFeatures.Remove(key);
            else _otherFeatures[key] = value;
        }
    }

    private static readonly Type[] OwnFeatures =
    [
        typeof(IHttpRequestFeature), typeof(IHttpResponseFeature), typeof(IHttpResponseBodyFeature), typeof(IHttpConnectionFeature),
        typeof(IHttpRequestLifetimeFeature), typeof(IHttpRequestIdentifierFeature), typeof(IHttpBodyControlFeature), typeof(IHttpRequestBodyDetectionFeature),
    ];

    private static bool IsOwnFeature(Type key) => Array.IndexOf(OwnFeatures, key) >= 0;

    public TFeature? Get<TFeature>() => (TFeature?)this[typeof(TFeature)];

    public void Set<TFeature>(TFeature? instance) => this[typeof(TFeature)] = instance;

    public IEnumerator<KeyValuePair<Type, object>> GetEnumerator()
    {
        foreach (Type t in OwnFeatures)
        {
            if (this[t] is { } f) yield return new(t, f);
        }
        foreach (KeyValuePair<Type, object?> f in _otherFeatures)
        {
            if (f.Value is not null && !IsOwnFeature(f.Key)) yield return new(f.Key, f.Value);
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
