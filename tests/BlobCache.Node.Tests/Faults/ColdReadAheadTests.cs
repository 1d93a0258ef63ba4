using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;
using Xunit.Abstractions;

namespace BlobCache.Node.Tests.Faults;

/// <summary>
/// A cold read through a node asks Blob for several chunks at once: a proxy between the node and Azurite holds back
/// the blob's first chunk, and the node must already be fetching the chunks after it.
/// </summary>
[Collection(MeshCollection.Name)]
public sealed class ColdReadAheadTests(MeshFixture fixture, ITestOutputHelper output) : IAsyncLifetime
{
    private const int ChunkSize = 4 * 1024 * 1024;
    private FaultProxy _proxy = null!;

    public Task InitializeAsync()
    {
        _proxy = new FaultProxy(fixture.Azurite.Port);
        _proxy.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _proxy.DisposeAsync();

    [Fact]
    public async Task A_cold_whole_blob_read_fetches_the_following_chunks_from_Blob_while_the_first_is_still_coming()
    {
        const string name = "big/forty.bin";
        var firstChunkDelay = TimeSpan.FromSeconds(12);
        _proxy.Rule = r => IsBlobRead(r, name) && r.RangeStart == 0 ? Fault.Slow(firstChunkDelay) : Fault.Pass;
        await using NodeProcess node = NodeProcess.Start("cold-ahead", Azurite.ConnectionStringFor(_proxy.Port), []);
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
        var tally = new ReadTally();
        Task read = tally.ReadAsync(node, Dataset.Container, name, fixture.Dataset.Sha256[name]);
        // Structural, not timed: the later chunks must be asked for before the held-back first one can have arrived.
        await Wait.UntilAsync(() => Task.FromResult(ChunksAskedFor(name) >= 4), firstChunkDelay - TimeSpan.FromSeconds(2),
            "the node to ask Blob for at least three chunks after the first while the first is held back");
        await read;
        output.WriteLine($"chunks asked of Blob: {ChunksAskedFor(name)}");
        tally.Report(output, "cold whole-blob read, first chunk held back");
        Assert.Equal(1, tally.Exact);
    }

    private static bool IsBlobRead(ProxiedRequest r, string name) =>
        r.Method == "GET" && r.RangeStart is not null && r.Path.EndsWith("/" + name, StringComparison.Ordinal);

    private int ChunksAskedFor(string name) =>
        _proxy.Requests.Where(r => IsBlobRead(r, name)).Select(r => r.RangeStart!.Value / ChunkSize).Distinct().Count();
}
