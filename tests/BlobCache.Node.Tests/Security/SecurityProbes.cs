using System.Diagnostics;
using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using BlobCache.Node.Peers.Grpc;
using BlobCache.Node.Peers.Tcp;
using BlobCache.Store;
using BlobCache.Testing;
using Grpc.Core;
using Grpc.Net.Client;

namespace BlobCache.Node.Tests.Security;

/// <summary>What the security tests do to a node from outside: raw gRPC calls, TLS handshakes, metric reads, failed starts.</summary>
internal static class SecurityProbes
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>
    /// A gRPC channel to a node's peer port. <paramref name="tls"/> false: plain h2c. Otherwise TLS presenting
    /// <paramref name="clientCertificate"/> (or none) and trusting any server, so a failure is the node refusing us.
    /// </summary>
    public static GrpcChannel Channel(int port, bool tls, X509Certificate2? clientCertificate = null, int streamWindow = 4 * 1024 * 1024, int maxSend = 4 * 1024 * 1024)
    {
        var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(5), InitialHttp2StreamWindowSize = streamWindow };
        if (tls)
        {
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
                LocalCertificateSelectionCallback = (_, _, _, _, _) => clientCertificate!,
            };
        }
        return GrpcChannel.ForAddress($"{(tls ? "https" : "http")}://127.0.0.1:{port}", new GrpcChannelOptions
        {
            HttpHandler = handler,
            MaxSendMessageSize = maxSend,
            MaxReceiveMessageSize = 64 * 1024 * 1024,
        });
    }

    public static FetchRequest Request(string container, string blob, string etag, long blobLength, long index = 0, bool fill = false) => new()
    {
        Account = Azurite.Account, Container = container, Blob = blob, Etag = etag, Index = index, BlobLength = blobLength, Fill = fill, From = "test",
    };

    /// <summary>Runs one Fetch to the end: the bytes received, or the status the call ended with.</summary>
    public static async Task<(StatusCode Status, long Bytes, string Detail)> FetchAsync(GrpcChannel channel, FetchRequest request)
    {
        long bytes = 0;
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            using AsyncServerStreamingCall<ChunkPiece> call = new ChunkPeer.ChunkPeerClient(channel).Fetch(request, cancellationToken: cts.Token);
            while (await call.ResponseStream.MoveNext(cts.Token)) bytes += call.ResponseStream.Current.Data.Length;
            return (StatusCode.OK, bytes, "");
        }
        catch (RpcException e)
        {
            return (e.StatusCode, bytes, e.Status.Detail);
        }
    }

    /// <summary>
    /// One raw framed-TCP request (<see cref="TcpFrames"/>) on a node's gRPC port, written byte for byte as a peer
    /// would: in the clear, or (with <paramref name="clientCertificate"/>) under TLS after the magic, trusting any
    /// server. The answer's status and body (the chunk, or the error's text).
    /// </summary>
    public static async Task<(TcpStatus Status, byte[] Body)> TcpFetchAsync(int port, ChunkId id, long blobLength, bool fill, X509Certificate2? clientCertificate = null)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port, cts.Token);
        Stream stream = tcp.GetStream();
        await stream.WriteAsync(TcpFrames.Magic.ToArray(), cts.Token);
        if (clientCertificate is not null)
        {
            var ssl = new SslStream(stream);
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "127.0.0.1",
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
                LocalCertificateSelectionCallback = (_, _, _, _, _) => clientCertificate,
            }, cts.Token);
            stream = ssl;
        }
        await using Stream s = stream;
        byte[] request = new byte[TcpFrames.RequestBytes(id, "forger")];
        TcpFrames.WriteRequest(request, id, blobLength, fill, warmOnly: false, "forger");
        await s.WriteAsync(request, cts.Token);
        byte[] answer = new byte[1 + TcpFrames.AnswerBytes];
        await s.ReadExactlyAsync(answer, cts.Token);
        if (answer[0] != TcpFrames.Accepted) throw new InvalidDataException($"the node answered with byte {answer[0]}, not 'A'");
        (TcpStatus status, _, int length, _) = TcpFrames.ReadAnswer(answer.AsSpan(1));
        byte[] body = new byte[length];
        await s.ReadExactlyAsync(body, cts.Token);
        return (status, body);
    }

    /// <summary>The certificate a node's gRPC port presents to a client holding <paramref name="clientCertificate"/>.</summary>
    public static async Task<X509Certificate2> ServerCertificateAsync(int port, X509Certificate2 clientCertificate)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        X509Certificate2? seen = null;
        await using var ssl = new SslStream(tcp.GetStream());
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "127.0.0.1",
            ApplicationProtocols = [SslApplicationProtocol.Http2],
            RemoteCertificateValidationCallback = (_, c, _, _) =>
            {
                seen = c is null ? null : X509CertificateLoader.LoadCertificate(c.GetRawCertData());
                return true;
            },
            LocalCertificateSelectionCallback = (_, _, _, _, _) => clientCertificate,
        });
        return seen ?? throw new InvalidOperationException("no server certificate");
    }

    /// <summary>A Blob error answer's <c>x-ms-error-code</c>, or "(none)".</summary>
    public static string ErrorCode(HttpResponseMessage r) => r.Headers.TryGetValues("x-ms-error-code", out var v) ? v.Single() : "(none)";

    /// <summary>Sum of the samples of a Prometheus counter on /metrics whose labels contain <paramref name="label"/>.</summary>
    public static async Task<double> MetricAsync(NodeProcess node, string name, string? label = null)
    {
        string text = await Http.GetStringAsync($"http://127.0.0.1:{node.HttpPort}/metrics");
        double sum = 0;
        foreach (string line in text.Split('\n'))
        {
            if (!line.StartsWith(name, StringComparison.Ordinal) || (label is not null && !line.Contains(label, StringComparison.Ordinal))) continue;
            string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            // name{labels} value [timestamp]
            if (parts.Length >= 2 && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double v)) sum += v;
        }
        return sum;
    }

    /// <summary>Runs blobcache to its exit (a start that must fail): exit code and standard error.</summary>
    public static async Task<(int Code, string Stderr)> RunToExitAsync(params string[] args)
    {
        using Process p = NodeProcess.Launch(args, new Dictionary<string, string>());
        Task<string> stdout = p.StandardOutput.ReadToEndAsync(), stderr = p.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await p.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"blobcache {string.Join(' ', args)} did not exit:\n{await stdout}");
        }
        await stdout;
        return (p.ExitCode, await stderr);
    }
}
