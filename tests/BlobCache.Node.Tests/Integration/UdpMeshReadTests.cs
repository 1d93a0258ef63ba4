using BlobCache.Node.Tests.Infrastructure;

namespace BlobCache.Node.Tests.Integration;

/// <summary>The mesh read tests again, with chunks between peers over the UDP (LiteNetLib) transport.</summary>
[Collection(MeshCollection.Name)]
public sealed class UdpMeshReadTests(MeshFixture fixture) : MeshReadTestsBase(fixture, "udp");
