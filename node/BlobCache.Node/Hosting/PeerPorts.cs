using System.Net;
using BlobCache.Node.Peers;
using BlobCache.Node.Peers.Tcp;
using BlobCache.Node.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;

namespace BlobCache.Node.Hosting;

/// <summary>
/// The peer port Kestrel serves, in one place: gRPC and framed TCP share it, both under the same mutual TLS. (The
/// gossip port is the gossip host's, the UDP chunk port the UDP server's.)
/// </summary>
internal static class PeerPorts
{
    public static void Listen(KestrelServerOptions kestrel, IPAddress bind, int grpcPort, TcpChunkService tcpService, PeerTls? tls)
    {
        kestrel.Listen(bind, grpcPort, l =>
        {
            l.Protocols = HttpProtocols.Http2;
            // Framed-TCP peers share the port: their connections open with a magic, HTTP/2 (or its TLS) with its
            // own bytes. Under --tls-* the framed service does its own mutual TLS after the magic, with the same
            // certificate and CA rules as the gRPC side.
            l.Use(tcpService.Middleware);
            if (tls is not null) UsePeerTls(l, tls);
        });
        kestrel.Limits.Http2.InitialStreamWindowSize = 4 * 1024 * 1024;
        kestrel.Limits.Http2.InitialConnectionWindowSize = 16 * 1024 * 1024;
    }

    /// <summary>gRPC takes a registered service instance when there is one: the node's own, with its read path.</summary>
    public static void AddGrpc(IServiceCollection services, GrpcChunkService service)
    {
        services.AddSingleton(service);
        services.AddGrpc(g =>
        {
            // Both directions bounded: a request is a few names (GrpcChunkPeerClient.MaxSendMessageBytes), a piece 64 KiB.
            g.MaxReceiveMessageSize = GrpcChunkPeerClient.MaxSendMessageBytes;
            g.MaxSendMessageSize = GrpcChunkPeerClient.MaxReceiveMessageBytes;
        });
    }

    /// <summary>
    /// By the port a request came in on, not its Host header: peers behind a forwarder name the advertised port in
    /// :authority.
    /// </summary>
    public static void Map(WebApplication app, int grpcPort) => app.MapGrpcService<GrpcChunkService>().RequireLocalPort(grpcPort);

    // TLS on the gRPC port, a client certificate required and checked against the mesh CA (never system roots). The
    // certificate is picked per connection, so a reload reaches new connections without a restart. A connection
    // whose handshake fails (no certificate, a foreign CA, plain text) is closed before any gRPC, and counted.
    private static void UsePeerTls(ListenOptions listen, PeerTls tls)
    {
        const string handshaken = "blobcache.tls";
        listen.Use(next => async connection =>
        {
            await next(connection).ConfigureAwait(false);
            if (!connection.Items.ContainsKey(handshaken)) tls.HandshakeFailed();
        });
        listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificateSelector = (_, _) => tls.Certificate,
            ClientCertificateMode = ClientCertificateMode.RequireCertificate,
            ClientCertificateValidation = (certificate, _, _) => tls.ValidateClient(certificate),
            HandshakeTimeout = TimeSpan.FromSeconds(5),
        });
        listen.Use(next => connection =>
        {
            connection.Items[handshaken] = true;
            return next(connection);
        });
    }
}
