using System.Net;
using System.Security.Cryptography;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;
using Grpc.Core;
using Grpc.Net.Client;

namespace BlobCache.Node.Tests.Security;

/// <summary>
/// Names that a URI would resolve into another container ("..", ".", their encoded and backslash forms) on a real
/// node that may serve one container only: the endpoint, /warm and the peer transports refuse them, and the origin
/// never reads another blob than the one named.
/// </summary>
[Collection(MeshCollection.Name)]
public sealed class ContainerEscapeTests(MeshFixture fixture)
{
    private const string Secret = "secret";
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>The request target exactly as written: HttpClient would otherwise resolve the dot segments itself.</summary>
    private static Uri Raw(NodeProcess node, string target) =>
        new($"http://127.0.0.1:{node.HttpPort}{target}", new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });

    private async Task<byte[]> UploadSecretAsync()
    {
        byte[] secret = RandomNumberGenerator.GetBytes(1000);
        var container = fixture.Azurite.Client.GetBlobContainerClient(Secret);
        await container.CreateIfNotExistsAsync();
        await container.GetBlobClient("s.bin").UploadAsync(new BinaryData(secret), overwrite: true);
        return secret;
    }

    [Theory]
    [InlineData("loop")]
    [InlineData("kestrel")]
    public async Task A_blob_name_with_dot_segments_is_refused_and_never_reads_another_container(string server)
    {
        byte[] secret = await UploadSecretAsync();
        await using NodeProcess node = NodeProcess.Start($"escape-{server}", fixture.Azurite.ConnectionString, [],
            "--allowed-containers", $"{Azurite.Account}/{Dataset.Container}", "--http-server", server);
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
        string data = $"/{Azurite.Account}/{Dataset.Container}";

        using (HttpResponseMessage direct = await Http.GetAsync(Raw(node, $"/{Azurite.Account}/{Secret}/s.bin")))
            Assert.Equal(HttpStatusCode.Forbidden, direct.StatusCode);

        string[] escapes =
        [
            $"{data}/../{Secret}/s.bin",
            $"{data}/%2e%2e/{Secret}/s.bin",
            $"{data}/%2E%2E%2F{Secret}%2Fs.bin",
            $"{data}/..%2F{Secret}%2Fs.bin",
            $"{data}/x/../../{Secret}/s.bin",
            $"{data}/x/%2e%2e/%2e%2e/{Secret}/s.bin",
            $"{data}/..%5C{Secret}%5Cs.bin",
            $"{data}/./../{Secret}/s.bin",
        ];
        foreach (string target in escapes)
        {
            foreach (HttpMethod method in new[] { HttpMethod.Get, HttpMethod.Head })
            {
                using var request = new HttpRequestMessage(method, Raw(node, target));
                using HttpResponseMessage r = await Http.SendAsync(request);
                byte[] body = await r.Content.ReadAsByteArrayAsync();
                Assert.False(body.AsSpan().IndexOf(secret.AsSpan(0, 64)) >= 0, $"{method} {target} returned the secret's bytes");
                Assert.True(r.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.Forbidden, $"{method} {target}: {(int)r.StatusCode} {SecurityProbes.ErrorCode(r)}");
                Assert.True(SecurityProbes.ErrorCode(r) is "InvalidResourceName" or "AuthorizationFailure", $"{method} {target}: {SecurityProbes.ErrorCode(r)}");
            }
        }

        // A name the client library would rewrite (a leading '/' is dropped from the URI it builds) is refused by the
        // origin, not read as the blob it would then address.
        using (HttpResponseMessage r = await Http.GetAsync(Raw(node, $"{data}//edge/one.bin")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Equal("InvalidResourceName", SecurityProbes.ErrorCode(r));
        }
        // The same names still work where they are a blob's real name.
        using (HttpResponseMessage r = await Http.GetAsync(Raw(node, $"{data}/edge/one.bin")))
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);

        // /warm: its ?path= is held to the same rules and the same allowed containers.
        foreach (string path in new[] { $"{Azurite.Account}/{Dataset.Container}/../{Secret}", $"{Azurite.Account}/{Dataset.Container}/x/..", $"{Azurite.Account}/../{Secret}" })
        {
            using HttpResponseMessage r = await Http.PostAsync(Raw(node, "/warm?path=" + Uri.EscapeDataString(path)), null);
            Assert.True(r.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.Forbidden, $"/warm?path={path}: {(int)r.StatusCode}");
        }
    }

    [Fact]
    public async Task A_peer_request_for_a_blob_name_with_dot_segments_is_refused()
    {
        byte[] secret = await UploadSecretAsync();
        await using NodeProcess node = NodeProcess.Start("escape-peer", fixture.Azurite.ConnectionString, []);
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
        string etag = (await fixture.Azurite.Client.GetBlobContainerClient(Secret).GetBlobClient("s.bin").GetPropertiesAsync()).Value.ETag.ToString();

        using GrpcChannel channel = SecurityProbes.Channel(node.GrpcPort, tls: false);
        foreach (string name in new[] { $"../{Secret}/s.bin", $"x/../../{Secret}/s.bin", $"..\\{Secret}\\s.bin" })
        {
            var (status, bytes, detail) = await SecurityProbes.FetchAsync(channel, SecurityProbes.Request(Dataset.Container, name, etag, secret.Length, fill: true));
            Assert.True(status == StatusCode.InvalidArgument, $"{name}: {status} {detail}, {bytes} bytes");
            Assert.Equal(0, bytes);
        }
        Assert.Equal(0, (await node.StatusAsync()).BlobGets);
    }
}
