using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Azure;
using Azure.Storage.Blobs;
using BlobDownloadOptions = Azure.Storage.Blobs.Models.BlobDownloadOptions;
using BlobDownloadStreamingResult = Azure.Storage.Blobs.Models.BlobDownloadStreamingResult;
using BlobCache.Mesh.Origin;
using BlobCache.Node.Hosting;
using BlobCache.Node.Origin;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Node.Tests.Security;
using BlobCache.Testing;
using Xunit.Abstractions;

namespace BlobCache.Node.Tests.Faults;

/// <summary>
/// Blob misbehaving: a fault-injecting proxy between a real node and Azurite answers 500/503, stalls past the
/// origin timeout, cuts bodies mid-stream or never answers, on a schedule per chunk.
/// </summary>
[Collection(MeshCollection.Name)]
public sealed class OriginFaultTests(MeshFixture fixture, ITestOutputHelper output) : IAsyncLifetime
{
    private const int ChunkSize = 4 * 1024 * 1024;
    private const int Readers = 16;
    private FaultProxy _proxy = null!;

    public Task InitializeAsync()
    {
        _proxy = new FaultProxy(fixture.Azurite.Port);
        _proxy.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _proxy.DisposeAsync();

    private NodeProcess StartNode(string id, int retries, int timeoutMs) =>
        NodeProcess.Start(id, Azurite.ConnectionStringFor(_proxy.Port), [], "--origin-retries", retries.ToString(CultureInfo.InvariantCulture), "--origin-timeout-ms", timeoutMs.ToString(CultureInfo.InvariantCulture));

    private static bool IsBlobRead(ProxiedRequest r, string name) =>
        r.Method == "GET" && r.RangeStart is not null && r.Path.EndsWith("/" + name, StringComparison.Ordinal);

    /// <summary>A rule that gives the n-th request for each chunk of <paramref name="name"/> the fault <paramref name="schedule"/> names (1-based).</summary>
    private static Func<ProxiedRequest, Fault> PerChunk(string name, Func<int, Fault> schedule)
    {
        var attempts = new ConcurrentDictionary<long, int>();
        return r => IsBlobRead(r, name) ? schedule(attempts.AddOrUpdate(r.RangeStart!.Value / ChunkSize, 1, (_, n) => n + 1)) : Fault.Pass;
    }

    private Dictionary<long, int> GetsPerChunk(string name) =>
        _proxy.Requests.Where(r => IsBlobRead(r, name)).GroupBy(r => r.RangeStart!.Value / ChunkSize).ToDictionary(g => g.Key, g => g.Count());

    private async Task<ReadTally> ReadConcurrentlyAsync(NodeProcess node, string name)
    {
        var tally = new ReadTally();
        await Task.WhenAll(Enumerable.Range(0, Readers).Select(_ => tally.ReadAsync(node, Dataset.Container, name, fixture.Dataset.Sha256[name])));
        return tally;
    }

    private long Chunks(string name) => (fixture.Dataset.Lengths[name] + ChunkSize - 1) / ChunkSize;

    [Fact]
    public async Task Errors_500_and_503_are_retried_with_one_origin_request_per_chunk_per_attempt()
    {
        const int retries = 4;
        const string name = "big/seventeen.bin";
        await using NodeProcess node = StartNode("o5xx", retries, 5000);
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
        // Every chunk: 503, then 500, then the bytes.
        _proxy.Rule = PerChunk(name, n => n switch { 1 => Fault.Error(503), 2 => Fault.Error(500), _ => Fault.Pass });
        ReadTally tally = await ReadConcurrentlyAsync(node, name);
        Dictionary<long, int> gets = GetsPerChunk(name);
        Survivors.Say(output, $"Blob answers 503 then 500 then data for each of {Chunks(name)} chunks, {Readers} readers: GETs per chunk at the proxy min {gets.Values.Min()}, max {gets.Values.Max()} (bound: {retries + 1} = retries + 1)");
        tally.Report(output, "Blob 503 then 500 on every chunk");
        Assert.Equal(Readers, tally.Exact);
        Assert.Equal(Chunks(name), gets.Count);
        Assert.All(gets.Values, n => Assert.InRange(n, 3, retries + 1)); // two errors + one success; never 16×
        await Survivors.AssertAliveAsync([node]);
    }

    [Fact]
    public async Task Stalls_past_the_timeout_and_bodies_cut_mid_stream_are_retried_never_wrong_bytes()
    {
        const int retries = 4;
        const string name = "big/nine.bin";
        await using NodeProcess node = StartNode("ocut", retries, 2000);
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
        // Every chunk: the first request stalls 5 s (past the 2 s timeout), the second is cut after 1 MiB of body.
        _proxy.Rule = PerChunk(name, n => n switch { 1 => Fault.Slow(TimeSpan.FromSeconds(5)), 2 => Fault.Cut(1 << 20), _ => Fault.Pass });
        ReadTally tally = await ReadConcurrentlyAsync(node, name);
        Dictionary<long, int> gets = GetsPerChunk(name);
        Survivors.Say(output, $"Blob stalls 5 s (timeout 2 s), then cuts the body after 1 MiB, then answers, for each of {Chunks(name)} chunks, {Readers} readers: GETs per chunk min {gets.Values.Min()}, max {gets.Values.Max()} (bound {retries + 1})");
        tally.Report(output, "Blob stalls past the timeout, then cuts bodies mid-stream");
        Assert.Equal(Readers, tally.Exact);
        Assert.All(gets.Values, n => Assert.InRange(n, 3, retries + 1));
        await Survivors.AssertAliveAsync([node]);
    }

    [Fact]
    public async Task A_Blob_that_never_answers_or_always_cuts_gives_readers_a_clear_5xx_within_the_bound_then_recovers()
    {
        const string name = "big/nine.bin";
        // Bound: 2 attempts of 3 s plus 0.1 s of backoff per chunk (short enough to test, long enough for a loaded
        // Azurite to send 4 MiB once Blob is healthy again).
        await using NodeProcess node = StartNode("ohang", retries: 1, timeoutMs: 3000);
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));

        _proxy.Rule = r => IsBlobRead(r, name) ? Fault.Hang : Fault.Pass;
        var sw = Stopwatch.StartNew();
        ReadTally hang = await ReadConcurrentlyAsync(node, name);
        TimeSpan hangTook = sw.Elapsed;
        hang.Report(output, "Blob never answers (origin timeout 3 s, 1 retry)");
        Assert.Equal(Readers, hang.ClearErrors);
        Assert.True(hang.Errors.ContainsKey("504 OperationTimedOut"), string.Join(", ", hang.Errors.Keys));
        Assert.True(hangTook < TimeSpan.FromSeconds(20), $"readers waited {hangTook.TotalSeconds:F1} s for a Blob that never answers");

        _proxy.Rule = r => IsBlobRead(r, name) ? Fault.Cut(64 * 1024) : Fault.Pass;
        ReadTally cut = await ReadConcurrentlyAsync(node, name);
        cut.Report(output, "Blob cuts every body after 64 KiB");
        Assert.Equal(Readers, cut.ClearErrors);

        _proxy.Rule = _ => Fault.Pass;
        ReadTally healed = await ReadConcurrentlyAsync(node, name);
        healed.Report(output, "Blob healthy again");
        Assert.Equal(Readers, healed.Exact);
        StatusReport s = await node.StatusAsync();
        Survivors.Say(output, $"hung Blob: all {Readers} readers answered in {hangTook.TotalSeconds:F2} s; origin errors counted in /status: {s.OriginErrors}");
        Assert.True(s.OriginErrors > 0);
        await Survivors.AssertAliveAsync([node]);
    }

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
        await Wait.UntilAsync(() => Task.FromResult(GetsPerChunk(name).Count >= 4), firstChunkDelay - TimeSpan.FromSeconds(2),
            "the node to ask Blob for at least three chunks after the first while the first is held back");
        await read;
        Survivors.Say(output, $"Blob holds back the first chunk {firstChunkDelay.TotalSeconds:F0} s: {GetsPerChunk(name).Count} chunks asked of Blob meanwhile or after");
        tally.Report(output, "cold whole-blob read, first chunk held back");
        Assert.Equal(1, tally.Exact);
    }

    [Fact]
    public async Task A_small_read_at_the_start_of_a_large_blob_asks_Blob_for_its_own_chunk_only()
    {
        // A header probe (safetensors, numpy, a KB lookup of a blob's first bytes) is not a stream: fetching the chunks
        // after it would cost Blob egress and requests no reader asked for.
        const string name = "big/forty.bin";
        var firstChunkDelay = TimeSpan.FromSeconds(3);
        _proxy.Rule = r => IsBlobRead(r, name) && r.RangeStart == 0 ? Fault.Slow(firstChunkDelay) : Fault.Pass;
        await using NodeProcess node = NodeProcess.Start("probe-at-zero", Azurite.ConnectionStringFor(_proxy.Port), []);
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
        BlobClient blob = node.Client.GetBlobContainerClient(Dataset.Container).GetBlobClient(name);
        // Read-ahead is started before the read's own chunk is awaited, so any would be asked of Blob while chunk 0 is held back.
        Response<BlobDownloadStreamingResult> probe = await blob.DownloadStreamingAsync(new BlobDownloadOptions { Range = new HttpRange(0, 1024) });
        using var header = new MemoryStream();
        await probe.Value.Content.CopyToAsync(header);
        Assert.Equal(1024, header.Length);
        Survivors.Say(output, $"a 1 KiB read at offset 0 of a {Chunks(name)}-chunk blob asked Blob for chunks {string.Join(", ", GetsPerChunk(name).Keys.Order())}");
        Assert.Equal([0L], GetsPerChunk(name).Keys.Order());
    }

    [Fact]
    public async Task A_throttling_account_costs_retries_not_reads_and_the_node_counts_every_refusal()
    {
        const string name = "big/forty.bin";
        // Four requests a second on any one blob (Azure's is 500; the rule is the simulator's own OriginThrottle), so
        // a cold read of 11 chunks by 16 readers outruns it several times over.
        var account = new ThrottledAccount(new OriginLimits { BlobRequestsPerSecond = 4, AccountRequestsPerSecond = 0, AccountEgressGbps = 0 });
        _proxy.Rule = account.Decide;
        await using NodeProcess node = StartNode("othrottle", retries: 6, timeoutMs: 10_000);
        await node.WaitReadyAsync(TimeSpan.FromSeconds(60));
        ReadTally tally = await ReadConcurrentlyAsync(node, name);
        tally.Report(output, "Blob limited to 4 requests/s for the blob");
        double counted = await SecurityProbes.MetricAsync(node, "blobcache_origin_server_busy");
        Survivors.Say(output, $"account refused {account.Refused} requests with 503; node counted {counted}; GETs served {account.Served(OriginRequestKind.GetRange)} for {Chunks(name)} chunks");
        Assert.Equal(Readers, tally.Exact);
        Assert.True(account.Refused > 0, "the limit never bit: the test proves nothing");
        Assert.Equal(account.Refused, (long)counted);
        Assert.Equal(Chunks(name), account.Served(OriginRequestKind.GetRange)); // single flight holds while Blob refuses
        await Survivors.AssertAliveAsync([node]);
    }

    [Fact]
    public async Task The_Blob_client_waits_the_shared_backoff_between_refused_attempts()
    {
        const string name = "big/nine.bin";
        var attempts = new ConcurrentQueue<long>();
        _proxy.Rule = r =>
        {
            if (!IsBlobRead(r, name)) return Fault.Pass;
            attempts.Enqueue(Stopwatch.GetTimestamp());
            return attempts.Count <= 3 ? Fault.Error(503) : Fault.Pass;
        };
        var origin = AzureBlobOrigin.Create(Azurite.ConnectionStringFor(_proxy.Port), new OriginRetry(4, TimeSpan.FromSeconds(30)));
        BlobInfo info = (await origin.GetBlobAsync(Dataset.Container, name, CancellationToken.None))!;
        byte[] chunk = new byte[ChunkSize];
        await origin.ReadAsync(Dataset.Container, name, info.ETag, info.Length, 0, chunk, CancellationToken.None);
        long[] at = attempts.ToArray();
        double[] gaps = [.. at.Zip(at.Skip(1), (a, b) => Stopwatch.GetElapsedTime(a, b).TotalMilliseconds)];
        Survivors.Say(output, $"gaps between attempts: {string.Join(", ", gaps.Select(g => $"{g:F0} ms"))}; origin counted {origin.ServerBusyResponses} refusals");
        Assert.Equal(4, at.Length);
        // Lower bounds only (a loaded machine can only make gaps longer): 80% of 100, 200 and 400 ms.
        OriginBackoff b = OriginBackoff.Default;
        for (int retry = 1; retry <= 3; retry++)
            Assert.True(gaps[retry - 1] >= b.DelayMicros(retry, 0) / 1000.0, $"retry {retry} came {gaps[retry - 1]:F0} ms after the refusal");
        Assert.Equal(3, origin.ServerBusyResponses);
    }

    [Fact]
    public async Task A_Blob_read_for_a_length_Blob_does_not_give_the_blob_fails_as_changed_instead_of_serving_cut_bytes()
    {
        // The length a node reads by may come from a peer (its metadata owner); a wrong one must not cut the blob short.
        const string name = "big/nine.bin";
        var origin = AzureBlobOrigin.Create(Azurite.ConnectionStringFor(_proxy.Port), new OriginRetry(0, TimeSpan.FromSeconds(30)));
        BlobInfo info = (await origin.GetBlobAsync(Dataset.Container, name, CancellationToken.None))!;
        byte[] chunk = new byte[ChunkSize];
        await Assert.ThrowsAsync<BlobChangedException>(() => origin.ReadAsync(Dataset.Container, name, info.ETag, info.Length - 1, 0, chunk, CancellationToken.None));
        await Assert.ThrowsAsync<BlobChangedException>(() => origin.ReadAsync(Dataset.Container, name, info.ETag, ChunkSize, 0, chunk, CancellationToken.None));
        await origin.ReadAsync(Dataset.Container, name, info.ETag, info.Length, 0, chunk, CancellationToken.None);
    }
}
