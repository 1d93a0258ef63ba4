using BlobCache.Node.Tests.Infrastructure;

namespace BlobCache.Node.Tests.Integration;

/// <summary>The mesh read tests again, with chunks between peers over the framed-TCP transport (on the gRPC port).</summary>
[Collection(MeshCollection.Name)]
public sealed class TcpMeshReadTests(MeshFixture fixture) : MeshReadTestsBase(fixture, "tcp");
