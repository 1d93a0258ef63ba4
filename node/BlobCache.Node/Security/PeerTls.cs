using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Security;

/// <summary>
/// The node's TLS identity for gRPC peer traffic: its certificate and key, and the mesh CA bundle that every peer's
/// certificate must chain to (and nothing else: system roots are never trusted). Reloaded when the files change;
/// connections opened after a reload use the new material, open ones keep theirs.
/// </summary>
/// <remarks>
/// Peers are addressed by pod IP, which no certificate issuer can know in advance, so host names are not checked:
/// a peer is anyone holding a key whose certificate the mesh CA signed. The CA must therefore be dedicated to the
/// mesh (cert-manager's CA issuer, one per mesh), never a shared corporate or public CA.
/// </remarks>
public sealed class PeerTls : IDisposable
{
    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1");
    private static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2");

    private readonly ILogger _logger;
    private readonly WatchedFiles _files;
    private Material _current = null!;
    private long _refused, _lastLogged = long.MinValue / 2;

    private sealed record Material(X509Certificate2 Certificate, X509Certificate2Collection Roots, long Version);

    /// <summary>Loads the three PEM files; throws <see cref="InvalidDataException"/> with a one-line reason.</summary>
    public PeerTls(string certFile, string keyFile, string caFile, TimeSpan checkPeriod, ILogger logger)
    {
        _logger = logger;
        _files = new WatchedFiles("peer TLS", [certFile, keyFile, caFile], Load, checkPeriod, logger);
    }

    /// <summary>Bumped on every successful reload: clients open new connections when it moves.</summary>
    public long Version => Volatile.Read(ref _current).Version;
    public X509Certificate2 Certificate => Volatile.Read(ref _current).Certificate;
    /// <summary>TLS handshakes refused because the other side had no certificate, or one the mesh CA did not sign.</summary>
    public long RefusedHandshakes => Interlocked.Read(ref _refused);
    public long Reloads => _files.Reloads;
    public long ReloadFailures => _files.Failures;

    /// <summary>Re-reads the files now if they changed (the watcher and a timer call this too).</summary>
    public void Check() => _files.Check();

    private void Load(byte[][] files)
    {
        string certPem = Encoding.ASCII.GetString(files[0]), keyPem = Encoding.ASCII.GetString(files[1]), caPem = Encoding.ASCII.GetString(files[2]);
        X509Certificate2 cert;
        try
        {
            cert = X509Certificate2.CreateFromPem(certPem, keyPem);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw new InvalidDataException($"--tls-cert/--tls-key: not a PEM certificate and matching private key ({e.Message})", e);
        }
        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPem(caPem);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw new InvalidDataException($"--tls-ca: not a PEM certificate bundle ({e.Message})", e);
        }
        if (roots.Count == 0) throw new InvalidDataException("--tls-ca: no certificate in the bundle");
        // The node's own certificate must be one its peers accept: catch a mismatched secret at start, not per peer.
        if (!Chains(cert, roots, out string why)) throw new InvalidDataException($"--tls-cert does not chain to --tls-ca: {why}");
        Material? old = Volatile.Read(ref _current);
        Volatile.Write(ref _current, new Material(cert, roots, (old?.Version ?? 0) + 1));
        if (old is not null)
            _logger.LogInformation("peer TLS certificate now {Subject} (expires {NotAfter:u})", cert.Subject, cert.NotAfter.ToUniversalTime());
    }

    /// <summary>Server side: validates a connecting peer's client certificate against the mesh CA.</summary>
    public bool ValidateClient(X509Certificate2? certificate) => Validate(certificate, ClientAuth, "client");

    /// <summary>Client side: validates the peer server's certificate against the mesh CA (names are not checked, see the remarks).</summary>
    public bool ValidateServer(X509Certificate? certificate) =>
        Validate(certificate as X509Certificate2 ?? (certificate is null ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData())), ServerAuth, "server");

    /// <summary>Counts a handshake that failed before any certificate was checked (a plain-text client, a reset).</summary>
    public void HandshakeFailed() => Interlocked.Increment(ref _refused);

    private bool Validate(X509Certificate2? certificate, Oid usage, string role)
    {
        string why = "no certificate";
        if (certificate is not null && Chains(certificate, Volatile.Read(ref _current).Roots, out why, usage)) return true;
        // One line per second at most: a scanner must not flood the log (the metric counts every refusal).
        long now = Environment.TickCount64;
        long last = Interlocked.Read(ref _lastLogged);
        if (now - last >= 1000 && Interlocked.CompareExchange(ref _lastLogged, now, last) == last)
            _logger.LogWarning("refused a peer TLS {Role} certificate {Subject}: {Why}", role, certificate?.Subject ?? "(none)", why);
        return false;
    }

    private static bool Chains(X509Certificate2 certificate, X509Certificate2Collection roots, out string why, Oid? usage = null)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck; // a private mesh CA publishes no CRL; rotation is the revocation
        chain.ChainPolicy.DisableCertificateDownloads = true;
        if (usage is not null) chain.ChainPolicy.ApplicationPolicy.Add(usage); // certificates without an EKU are valid for any use
        if (chain.Build(certificate))
        {
            why = "";
            return true;
        }
        why = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
        if (why.Length == 0) why = "untrusted chain";
        return false;
    }

    public void Dispose() => _files.Dispose();
}
