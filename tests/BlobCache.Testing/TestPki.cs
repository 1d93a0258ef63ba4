using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace BlobCache.Testing;

/// <summary>A throwaway certificate authority for tests: issues node certificates and writes them as PEM files.</summary>
public sealed class TestCa : IDisposable
{
    private readonly ECDsa _key;

    public X509Certificate2 Certificate { get; }
    public string Name { get; }

    private TestCa(string name, ECDsa key, X509Certificate2 certificate)
    {
        Name = name;
        _key = key;
        Certificate = certificate;
    }

    public static TestCa Create(string name)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        DateTimeOffset now = DateTimeOffset.UtcNow;
        return new TestCa(name, key, request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1)));
    }

    /// <summary>A node certificate (server and client use, SAN 127.0.0.1) with its private key.</summary>
    public X509Certificate2 Issue(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false));
        DateTimeOffset now = DateTimeOffset.UtcNow;
        byte[] serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7f;
        using X509Certificate2 issued = request.Create(Certificate.SubjectName, X509SignatureGenerator.CreateForECDsa(_key), now.AddMinutes(-5), now.AddHours(12), serial);
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>Writes a node certificate issued by this CA (and this CA as the bundle) into <paramref name="directory"/>.</summary>
    public TlsFiles WriteNode(string directory, string name) => TlsFiles.Write(directory, Issue(name), Certificate);

    public void Dispose()
    {
        Certificate.Dispose();
        _key.Dispose();
    }
}

/// <summary>The three PEM files a node's <c>--tls-cert</c>, <c>--tls-key</c> and <c>--tls-ca</c> name.</summary>
public sealed record TlsFiles(string Cert, string Key, string Ca, X509Certificate2 Certificate)
{
    public string[] Args => ["--tls-cert", Cert, "--tls-key", Key, "--tls-ca", Ca];

    /// <summary>Writes (or overwrites, as a rotation) the files; each by a rename, so a reader never sees half a file.</summary>
    public static TlsFiles Write(string directory, X509Certificate2 certificate, X509Certificate2 ca)
    {
        Directory.CreateDirectory(directory);
        var files = new TlsFiles(Path.Combine(directory, "tls.crt"), Path.Combine(directory, "tls.key"), Path.Combine(directory, "ca.crt"), certificate);
        AsymmetricAlgorithm key = (AsymmetricAlgorithm?)certificate.GetECDsaPrivateKey() ?? certificate.GetRSAPrivateKey()
            ?? throw new ArgumentException("the certificate has no private key", nameof(certificate));
        Replace(files.Key, key.ExportPkcs8PrivateKeyPem());
        Replace(files.Cert, certificate.ExportCertificatePem());
        Replace(files.Ca, ca.ExportCertificatePem());
        return files;
    }

    private static void Replace(string path, string text)
    {
        string temp = path + ".tmp";
        File.WriteAllText(temp, text + "\n");
        File.Move(temp, path, overwrite: true);
    }
}
