using BlobCache.Mesh.Placement;
using BlobCache.Node.Config;
using BlobCache.Node.Gossip;
using BlobCache.Node.Origin;
using BlobCache.Node.Reading;
using BlobCache.Node.Telemetry;
using BlobCache.Store;
using BlobCache.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobCache.Node.Tests.Unit;

/// <summary>A chunk read ahead is counted, for its first reader, as a read from where the read-ahead got it.</summary>
public sealed class ReadAheadAttributionTests
{
    private const int ChunkSize = 1 << 20;

    /// <summary>A mesh of this node alone: every chunk past the store comes from Blob.</summary>
    private sealed class SoloMesh : IMeshView
    {
        public MeshSnapshot Current { get; } = new(0, "local", PlacementMap.Empty, [], [], 0);
    }

    [Fact]
    public async Task The_first_reader_of_a_chunk_read_ahead_from_Blob_is_counted_as_a_Blob_read_and_the_next_as_memory()
    {
        var origin = new SampleOrigin(blobs: 1, blobBytes: 2L * ChunkSize);
        BlobInfo info = (await origin.GetBlobAsync(SampleOrigin.Container, SampleOrigin.BlobName(0), default))!;
        using var store = new ChunkStore(new ChunkStoreOptions { MemoryBytes = 16L * ChunkSize, DiskBytes = 0 });
        using var metrics = new NodeMetrics();
        using var reader = new ChunkReader(new NodeOptions { ChunkSizeMb = 1 }, store, origin, new SoloMesh(), new NoPeers(), metrics, NullLogger.Instance);
        var second = new ChunkId("devstoreaccount1", SampleOrigin.Container, SampleOrigin.BlobName(0), info.ETag, 1);

        reader.Prefetch(second, info.Length);
        await Wait.UntilAsync(() => Task.FromResult(store.Contains(second)), TimeSpan.FromSeconds(10), "the read-ahead to store the chunk");
        Assert.Equal(0, metrics.ReadsFrom(ReadSource.Blob));

        (ChunkBuffer first, ReadSource firstSource) = await reader.GetAsync(second, info.Length, CancellationToken.None);
        first.Release();
        (ChunkBuffer again, ReadSource againSource) = await reader.GetAsync(second, info.Length, CancellationToken.None);
        again.Release();

        Assert.Equal((ReadSource.Blob, ReadSource.Memory), (firstSource, againSource));
        Assert.Equal((1, 1), (metrics.ReadsFrom(ReadSource.Blob), metrics.ReadsFrom(ReadSource.Memory)));
        Assert.Equal(1, metrics.BlobGets);
    }
}
