using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Storage.Blobs;
using BlobCache.Node.Security;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Security;

/// <summary>The local endpoint's bearer tokens and allowed containers, on a real node.</summary>
[Collection(MeshCollection.Name)]
public sealed class EndpointAccessTests(MeshFixture fixture) : IDisposable
{
    private const string Token = "first-token-0123456789abcdef", NewToken = "rotated-token-fedcba9876543210";
    private readonly string _dir = Directory.CreateTempSubdirectory("blobcache-token-").FullName;
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>How an Azure SDK client sends the token: the SDK refuses TokenCredential over http, a header policy does not.</summary>
    private sealed class BearerHeader(string token) : HttpPipelineSynchronousPolicy
    {
        public override void OnSendingRequest(HttpMessage message) => message.Request.Headers.SetValue("Authorization", "Bearer " + token);
    }

    private static async Task<HttpResponseMessage> GetAsync(NodeProcess node, string path, string? token, string? range = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{node.HttpPort}{path}");
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (range is not null) request.Headers.TryAddWithoutValidation("x-ms-range", range);
        return await Http.SendAsync(request);
    }

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("127.0.0.2", true)]
    [InlineData("127.255.0.9", true)]
    [InlineData("::1", true)]
    [InlineData("0.0.0.0", false)]
    [InlineData("::", false)]
    [InlineData("10.1.2.3", false)]
    [InlineData("128.0.0.1", false)]
    public void Loopback_is_decided_by_address(string address, bool loopback) => Assert.Equal(loopback, EndpointAccess.IsLoopback(address));

    [Fact]
    public async Task Tokens_and_allowed_containers_decide_every_request_but_probes_and_metrics()
    {
        string tokens = Path.Combine(_dir, "tokens");
        await File.WriteAllTextAsync(tokens, "# one token a line\n" + Token + "\n");
        await using NodeProcess node = NodeProcess.Start("auth-0", fixture.Azurite.ConnectionString, [],
            "--endpoint-token-file", tokens, "--allowed-containers", $"{Azurite.Account}/{Dataset.Container}");
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60)); // /readyz needs no token
        const string one = "/" + Azurite.Account + "/" + Dataset.Container + "/edge/one.bin";

        using (HttpResponseMessage r = await GetAsync(node, one, token: null))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
            Assert.Equal("NoAuthenticationInformation", SecurityProbes.ErrorCode(r));
            Assert.Contains("<Code>NoAuthenticationInformation</Code>", await r.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        using (HttpResponseMessage r = await GetAsync(node, one, "wrong-token-0123456789abcdef"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
            Assert.Equal("AuthenticationFailed", SecurityProbes.ErrorCode(r));
        }
        using (HttpResponseMessage r = await GetAsync(node, "/status", token: null)) Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        using (HttpResponseMessage r = await GetAsync(node, "/metrics", token: null)) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using (HttpResponseMessage r = await GetAsync(node, "/healthz", token: null)) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using (HttpResponseMessage r = await GetAsync(node, one, Token))
        {
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Equal(fixture.Dataset.Sha256["edge/one.bin"], Convert.ToHexStringLower(SHA256.HashData(await r.Content.ReadAsByteArrayAsync())));
        }
        // Outside --allowed-containers: refused whatever the token, before the origin is asked.
        foreach (string path in new[] { $"/{Azurite.Account}/other/x.bin", $"/{Azurite.Account}/other?restype=container&comp=list", "/otheraccount?comp=list", "/warm?path=" + Azurite.Account + "/other" })
        {
            using HttpResponseMessage r = await GetAsync(node, path, Token);
            Assert.True(r.StatusCode == HttpStatusCode.Forbidden, $"{path}: {r.StatusCode}");
            Assert.Equal("AuthorizationFailure", SecurityProbes.ErrorCode(r));
        }
        // List Containers of the account shows the allowed containers only, though Blob holds more.
        await fixture.Azurite.Client.GetBlobContainerClient("not-allowed").CreateIfNotExistsAsync();
        using (HttpResponseMessage r = await GetAsync(node, $"/{Azurite.Account}/?comp=list", Token))
        {
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            var names = System.Xml.Linq.XDocument.Parse(await r.Content.ReadAsStringAsync()).Descendants("Container").Select(c => c.Element("Name")?.Value ?? "").ToArray();
            Assert.Equal([Dataset.Container], names);
        }
        // One range per request: several are refused, not answered with the whole blob.
        using (HttpResponseMessage r = await GetAsync(node, "/" + Azurite.Account + "/" + Dataset.Container + "/big/nine.bin", Token, "bytes=0-9,100-109"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Equal("InvalidHeaderValue", SecurityProbes.ErrorCode(r));
        }

        // The Azure SDK, with the token in a header policy.
        var options = new BlobClientOptions();
        options.AddPolicy(new BearerHeader(Token), HttpPipelinePosition.PerCall);
        var sdk = new BlobServiceClient(new Uri(node.Endpoint), options);
        byte[] nine = (await sdk.GetBlobContainerClient(Dataset.Container).GetBlobClient("big/nine.bin").DownloadContentAsync()).Value.Content.ToArray();
        Assert.Equal(fixture.Dataset.Sha256["big/nine.bin"], Convert.ToHexStringLower(SHA256.HashData(nine)));

        // The Azure SDK for Python, with the token in azure-core's headers policy.
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("""
            import hashlib, sys
            from azure.storage.blob import BlobServiceClient
            url, token, container, blob = sys.argv[1:5]
            client = BlobServiceClient(url, headers={"Authorization": "Bearer " + token})
            print(hashlib.sha256(client.get_blob_client(container, blob).download_blob().readall()).hexdigest())
            """);
        foreach (string a in new[] { node.Endpoint, Token, Dataset.Container, "big/nine.bin" }) psi.ArgumentList.Add(a);
        using (Process python = Process.Start(psi)!)
        {
            Task<string> stdout = python.StandardOutput.ReadToEndAsync(), stderr = python.StandardError.ReadToEndAsync();
            using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            await python.WaitForExitAsync(deadline.Token);
            Assert.True(python.ExitCode == 0, $"python exited with {python.ExitCode}: {await stderr}");
            Assert.Equal(fixture.Dataset.Sha256["big/nine.bin"], (await stdout).Trim());
        }

        // Rotation: the file now holds only the new token; the old one stops working without a restart.
        await File.WriteAllTextAsync(tokens + ".tmp", NewToken + "\n");
        File.Move(tokens + ".tmp", tokens, overwrite: true);
        await Wait.UntilAsync(async () =>
        {
            using HttpResponseMessage r = await GetAsync(node, one, NewToken);
            return r.StatusCode == HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(30), "the rotated token to be accepted");
        using (HttpResponseMessage r = await GetAsync(node, one, Token)) Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.True(await SecurityProbes.MetricAsync(node, "blobcache_endpoint_refused", "reason=\"unauthenticated\"") >= 4);
        Assert.True(await SecurityProbes.MetricAsync(node, "blobcache_endpoint_refused", "reason=\"forbidden\"") >= 4);
    }

    [Fact]
    public async Task An_endpoint_that_must_authenticate_without_a_token_file_refuses_to_start()
    {
        // --require-endpoint-auth stands in for a non-loopback --host, which tests may not bind.
        (int code, string stderr) = await SecurityProbes.RunToExitAsync("run", "--origin", "sample", "--insecure", "--require-endpoint-auth");
        Assert.Equal(2, code);
        Assert.Contains("--endpoint-token-file", stderr, StringComparison.Ordinal);

        string shortTokens = Path.Combine(_dir, "short");
        await File.WriteAllTextAsync(shortTokens, "abc\n");
        (code, stderr) = await SecurityProbes.RunToExitAsync("run", "--origin", "sample", "--insecure", "--endpoint-token-file", shortTokens);
        Assert.Equal(2, code);
        Assert.Contains("shorter than", stderr, StringComparison.Ordinal);
    }
}
