using System.Net;
using BlobCache.Node.Config;
using BlobCache.Node.Gossip;
using BlobCache.Node.Security;
using BlobCache.Store;

namespace BlobCache.Node.Hosting;

/// <summary>The peer TLS files, given all three together.</summary>
internal sealed record PeerTlsFiles(string Cert, string Key, string Ca);

/// <summary>
/// The node's options checked against each other once, and cut into what each component takes. The origin and the
/// gossip keyring are checked just before (their messages come first); what a file holds (certificates, tokens) is
/// checked when the component reading it is built.
/// </summary>
internal sealed record NodeSettings(
    IPAddress Bind,
    ChunkStoreOptions Store,
    PeerTlsFiles? Tls,
    bool EndpointOpenToAll)
{
    /// <summary>The settings, or <see cref="NodeStartRefused"/> with the one line that says which options disagree.</summary>
    public static NodeSettings From(NodeOptions options)
    {
        IPAddress bind = IPAddress.Parse(GossipHost.BindAddress(options.Host));
        return new NodeSettings(
            bind,
            new ChunkStoreOptions
            {
                MemoryBytes = (long)options.MemoryMb << 20,
                DiskBytes = options.CacheDir is null ? 0 : (long)options.DiskMb << 20,
                Directory = options.CacheDir,
            },
            TlsFiles(options),
            IsEndpointOpenToAll(options, bind));
    }

    /// <summary>Peers are authenticated unless --insecure.</summary>
    private static PeerTlsFiles? TlsFiles(NodeOptions options)
    {
        string?[] files = [options.TlsCert, options.TlsKey, options.TlsCa];
        if (files.Any(f => f is not null) && files.Any(f => f is null))
            throw new NodeStartRefused("--tls-cert, --tls-key and --tls-ca go together (missing " + string.Join(", ", new[] { "--tls-cert", "--tls-key", "--tls-ca" }.Where((_, i) => files[i] is null)) + ")");
        if (files[0] is null && !options.Insecure)
            throw new NodeStartRefused("gRPC peer traffic needs mutual TLS: give --tls-cert, --tls-key and --tls-ca, or --insecure for local development");
        return files[0] is null ? null : new PeerTlsFiles(options.TlsCert!, options.TlsKey!, options.TlsCa!);
    }

    /// <summary>An endpoint reachable from other hosts needs a token; only --insecure may leave it open (and is warned).</summary>
    private static bool IsEndpointOpenToAll(NodeOptions options, IPAddress bind)
    {
        bool exposed = options.RequireEndpointAuth || !EndpointAccess.IsLoopback(bind.ToString());
        if (!exposed || options.EndpointTokenFile is not null) return false;
        if (!options.Insecure || options.RequireEndpointAuth)
            throw new NodeStartRefused($"the local endpoint on {options.Host} is reachable from other hosts: give --endpoint-token-file (or bind 127.0.0.1)");
        return true;
    }
}
