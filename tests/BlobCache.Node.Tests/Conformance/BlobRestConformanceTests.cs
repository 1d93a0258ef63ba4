using System.Net;
using System.Text;
using System.Xml.Linq;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Sas;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Conformance;

/// <summary>
/// The same requests to Blob (Azurite) and to a node in front of it: status, error code, every header a client
/// reads and the body must agree, except where <see cref="BlobRestProbes"/> says why not.
/// </summary>
[Collection(MeshCollection.Name)]
public sealed class BlobRestConformanceTests(MeshFixture fixture) : IAsyncLifetime
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(60) };

    /// <summary>Headers a client reads into the properties it returns; compared wherever either side sends them.</summary>
    private static readonly string[] ClientHeaders =
    [
        "Content-Type", "Content-Range", "ETag", "Last-Modified", "Content-MD5", "x-ms-blob-content-md5", "Content-Encoding",
        "Content-Language", "Cache-Control", "Content-Disposition", "Accept-Ranges", "x-ms-blob-type", "x-ms-lease-state",
        "x-ms-lease-status", "x-ms-creation-time", "x-ms-access-tier", "x-ms-blob-public-access", "x-ms-has-immutability-policy",
        "x-ms-has-legal-hold", "x-ms-server-encrypted",
    ];

    private NodeProcess _node = null!;
    private string _sas = "";
    private string _etag = "";
    private string _marker = "";

    public async Task InitializeAsync()
    {
        BlobServiceClient service = fixture.Azurite.Client;
        BlobContainerClient container = service.GetBlobContainerClient(BlobRestProbes.Container);
        await container.CreateIfNotExistsAsync(metadata: new Dictionary<string, string> { ["team"] = "ml", ["Purpose"] = "conformance" });
        byte[] small = new byte[10_000];
        new Random(24).NextBytes(small);
        foreach (string name in BlobRestProbes.Names)
            await container.GetBlobClient(name).UploadAsync(new BinaryData(small), overwrite: true);
        // Crosses a 4 MiB chunk boundary, with every content header and user metadata set.
        byte[] large = new byte[(4 << 20) + 12_345];
        new Random(25).NextBytes(large);
        BlobClient props = container.GetBlobClient("props.txt");
        await props.UploadAsync(new BinaryData(large), new BlobUploadOptions
        {
            HttpHeaders = new BlobHttpHeaders
            {
                ContentType = "text/plain; charset=utf-8", ContentEncoding = "identity", ContentLanguage = "en-GB",
                CacheControl = "max-age=60", ContentDisposition = "attachment; filename=props.txt",
                ContentHash = System.Security.Cryptography.MD5.HashData(large),
            },
            Metadata = new Dictionary<string, string> { ["owner"] = "data-team", ["Epoch"] = "7" },
        });
        await props.SetTagsAsync(new Dictionary<string, string> { ["stage"] = "raw", ["split"] = "train" });
        _etag = (await props.GetPropertiesAsync()).Value.ETag.ToString();
        await foreach (Azure.Page<BlobItem> page in container.GetBlobsAsync().AsPages(pageSizeHint: 2))
        {
            _marker = page.ContinuationToken ?? "";
            break;
        }
        _sas = service.GenerateAccountSasUri(AccountSasPermissions.Read | AccountSasPermissions.List | AccountSasPermissions.Tag, DateTimeOffset.UtcNow.AddHours(2), AccountSasResourceTypes.All).Query.TrimStart('?');
        _node = NodeProcess.Start("conformance", fixture.Azurite.ConnectionString, []);
        await _node.WaitReadyAsync(TimeSpan.FromSeconds(60));
    }

    public async Task DisposeAsync() => await _node.DisposeAsync();

    [Fact]
    public async Task Every_probe_gets_the_answer_Blob_gives_or_its_listed_difference()
    {
        var failures = new List<string>();
        int probes = 0;
        foreach (Probe probe in BlobRestProbes.All(_etag, _marker))
        {
            probes++;
            string? failure = await CheckAsync(probe);
            if (failure is not null) failures.Add(failure);
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of {probes} probes:\n" + string.Join("\n", failures));
    }

    /// <summary>Null when the probe holds, else what is wrong.</summary>
    private async Task<string?> CheckAsync(Probe probe)
    {
        using HttpResponseMessage node = await SendAsync(probe, $"http://127.0.0.1:{_node.HttpPort}");
        if (probe.Expect == Expect.Deliberate)
        {
            // Not sent to Blob (it would write): the node refuses in Blob's error shape.
            string body = await node.Content.ReadAsStringAsync();
            bool shaped = (int)node.StatusCode is >= 400 and < 500 && node.Headers.Contains("x-ms-error-code") && body.Contains("<Error>", StringComparison.Ordinal);
            return shaped ? null : $"{probe.Name}: refused as {(int)node.StatusCode} without Blob's error shape: {body}";
        }
        using HttpResponseMessage blob = await SendAsync(probe, $"http://127.0.0.1:{fixture.Azurite.Port}");
        List<string> differences = await CompareAsync(blob, node, probe.Method == "HEAD");
        // BLOBCACHE_CONFORMANCE_SHOW=1 checks the known differences as if they were fixed, to show what they are.
        if (probe.Expect == Expect.Same || Environment.GetEnvironmentVariable("BLOBCACHE_CONFORMANCE_SHOW") == "1")
            return differences.Count == 0 ? null : $"{probe.Name}: the node differs from Blob:\n  " + string.Join("\n  ", differences);
        return differences.Count > 0 ? null : $"{probe.Name} now answers as Blob does ({probe.Why}): mark it Expect.Same";
    }

    private async Task<HttpResponseMessage> SendAsync(Probe probe, string origin)
    {
        string target = probe.Target.Replace("{a}", Azurite.Account, StringComparison.Ordinal);
        target += (target.Contains('?', StringComparison.Ordinal) ? "&" : "?") + _sas;
        using var request = new HttpRequestMessage(new HttpMethod(probe.Method), origin + target);
        foreach ((string k, string v) in probe.Headers)
        {
            if (k != "Content-Length") request.Headers.TryAddWithoutValidation(k, v);
        }
        if (probe.Method == "PUT") request.Content = new ByteArrayContent([]);
        request.Headers.TryAddWithoutValidation("x-ms-version", "2025-01-05");
        return await Http.SendAsync(request);
    }

    private static string? Header(HttpResponseMessage r, string name) =>
        r.Headers.TryGetValues(name, out var v) ? string.Join(",", v)
        : r.Content.Headers.TryGetValues(name, out var c) ? string.Join(",", c) : null;

    private static async Task<List<string>> CompareAsync(HttpResponseMessage blob, HttpResponseMessage node, bool head)
    {
        var d = new List<string>();
        if (blob.StatusCode != node.StatusCode) d.Add($"status: Blob {(int)blob.StatusCode}, node {(int)node.StatusCode}");
        void Same(string header)
        {
            string? b = Header(blob, header), n = Header(node, header);
            if (b != n) d.Add($"{header}: Blob '{b ?? "(none)"}', node '{n ?? "(none)"}'");
        }
        Same("x-ms-error-code");
        foreach (string h in ClientHeaders) Same(h);
        var meta = blob.Headers.Concat(node.Headers).Select(h => h.Key).Where(k => k.StartsWith("x-ms-meta-", StringComparison.OrdinalIgnoreCase))
            .Distinct(StringComparer.OrdinalIgnoreCase);
        foreach (string m in meta) Same(m);
        bool error = (int)blob.StatusCode >= 400;
        // Framing, not content, where Blob sends its answer chunked (listings): clients read the body either way.
        if (!error && Header(blob, "Content-Length") is not null) Same("Content-Length");
        if (head || blob.StatusCode == HttpStatusCode.NotModified) return d;
        byte[] b = await blob.Content.ReadAsByteArrayAsync(), n = await node.Content.ReadAsByteArrayAsync();
        bool xml = Header(blob, "Content-Type")?.Contains("xml", StringComparison.OrdinalIgnoreCase) == true;
        if (error)
        {
            // Messages and request ids differ by design; the code is what clients act on.
            if (xml && ErrorCode(b) != ErrorCode(n)) d.Add($"error body code: Blob '{ErrorCode(b)}', node '{ErrorCode(n)}'");
        }
        else if (xml)
        {
            string cb = CanonicalXml(b), cn = CanonicalXml(n);
            if (cb != cn)
            {
                // From a little before the first difference: listings are long and differ deep inside.
                int at = 0;
                while (at < cb.Length && at < cn.Length && cb[at] == cn[at]) at++;
                int from = Math.Max(0, at - 200);
                string Part(string s) => s[Math.Min(from, s.Length)..Math.Min(s.Length, from + 600)];
                d.Add($"body, from character {from}:\n    Blob {Part(cb)}\n    node {Part(cn)}");
            }
        }
        else if (!b.AsSpan().SequenceEqual(n)) d.Add($"body: {b.Length} bytes from Blob, {n.Length} from the node, not the same");
        return d;
    }

    private static string? ErrorCode(byte[] body)
    {
        try
        {
            return XDocument.Parse(Encoding.UTF8.GetString(body)).Root?.Element("Code")?.Value;
        }
        catch (System.Xml.XmlException)
        {
            return "(not XML)";
        }
    }

    /// <summary>The document without the parts that name the server (ServiceEndpoint), with no formatting.</summary>
    private static string CanonicalXml(byte[] body)
    {
        XDocument doc = XDocument.Parse(Encoding.UTF8.GetString(body).TrimStart('\uFEFF'));
        doc.Root?.Attribute("ServiceEndpoint")?.Remove();
        return doc.Root?.ToString(SaveOptions.DisableFormatting) ?? "";
    }
}
