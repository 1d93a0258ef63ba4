using BlobCache.Node.Origin;
using BlobCache.Node.Reading;

namespace BlobCache.Node.Tests.Unit;

public sealed class BlobMetadataCacheTests
{
    /// <summary>An origin whose answers the test controls: synchronous, or held until released.</summary>
    private sealed class ScriptedOrigin : IBlobOrigin
    {
        public int Lookups;
        public string ETag = "\"v1\"";
        public TaskCompletionSource<BlobInfo?>? Held;

        public string AccountName => "acct";
        public string Describe => "scripted";

        public Task<BlobInfo?> GetBlobAsync(string container, string blob, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Lookups);
            var info = new BlobInfo(10, ETag, DateTimeOffset.UnixEpoch, "application/octet-stream", null);
            if (Held is { } held)
            {
                Held = null;
                return held.Task;
            }
            return Task.FromResult<BlobInfo?>(info);
        }

        public Task ReadAsync(string container, string blob, string etag, long offset, Memory<byte> destination, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<ContainerInfo?> GetContainerAsync(string container, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<ListPage?> ListAsync(string container, string? prefix, string? delimiter, string? marker, int? maxResults, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<bool> PingAsync(CancellationToken cancellationToken) => Task.FromResult(true);
    }

    private static BlobInfo Info(string etag) => new(10, etag, DateTimeOffset.UnixEpoch, "application/octet-stream", null);

    [Fact]
    public async Task A_lookup_that_finishes_at_once_is_not_kept_as_a_standing_answer()
    {
        var origin = new ScriptedOrigin();
        var cache = new BlobMetadataCache(origin, TimeSpan.Zero); // TTL 0: every lookup asks the origin
        Assert.Equal("\"v1\"", (await cache.GetAsync("c", "b", default))!.ETag);
        origin.ETag = "\"v2\"";
        Assert.Equal("\"v2\"", (await cache.GetAsync("c", "b", default))!.ETag);
        Assert.Equal(2, origin.Lookups);
    }

    [Fact]
    public async Task An_answer_that_arrives_after_Invalidate_is_not_cached()
    {
        var origin = new ScriptedOrigin { Held = new TaskCompletionSource<BlobInfo?>(TaskCreationOptions.RunContinuationsAsynchronously) };
        TaskCompletionSource<BlobInfo?> held = origin.Held;
        var cache = new BlobMetadataCache(origin, TimeSpan.FromMinutes(5));
        ValueTask<BlobInfo?> early = cache.GetAsync("c", "b", default); // asked before the overwrite
        cache.Invalidate("c", "b"); // a reader found the cached ETag stale
        origin.ETag = "\"v2\"";
        held.SetResult(Info("\"v1\"")); // the old answer lands late
        Assert.Equal("\"v1\"", (await early)!.ETag); // its own waiter gets it
        Assert.Equal("\"v2\"", (await cache.GetAsync("c", "b", default))!.ETag); // nobody after the invalidation does
        Assert.Equal(2, origin.Lookups);
    }

    [Fact]
    public async Task Concurrent_lookups_share_one_origin_request_and_the_answer_is_cached()
    {
        var origin = new ScriptedOrigin { Held = new TaskCompletionSource<BlobInfo?>(TaskCreationOptions.RunContinuationsAsynchronously) };
        TaskCompletionSource<BlobInfo?> held = origin.Held;
        var cache = new BlobMetadataCache(origin, TimeSpan.FromMinutes(5));
        var lookups = Enumerable.Range(0, 16).Select(_ => cache.GetAsync("c", "b", default).AsTask()).ToList();
        held.SetResult(Info("\"v1\""));
        foreach (BlobInfo? info in await Task.WhenAll(lookups)) Assert.Equal("\"v1\"", info!.ETag);
        Assert.Equal("\"v1\"", (await cache.GetAsync("c", "b", default))!.ETag);
        Assert.Equal(1, origin.Lookups);
    }

    /// <summary>A clock the test moves by hand.</summary>
    private sealed class ManualTime : TimeProvider
    {
        public long Ticks = 1;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => Ticks;
        public void Advance(TimeSpan by) => Ticks += by.Ticks;
    }

    [Fact]
    public async Task A_blob_read_in_the_last_fifth_of_its_TTL_is_asked_again_in_the_background_while_the_reader_gets_the_cached_answer()
    {
        var origin = new ScriptedOrigin();
        var time = new ManualTime();
        var cache = new BlobMetadataCache(origin, TimeSpan.FromSeconds(5), time);
        Assert.Equal("\"v1\"", (await cache.GetAsync("c", "b", default))!.ETag);
        time.Advance(TimeSpan.FromSeconds(3.9));
        Assert.Equal("\"v1\"", (await cache.GetAsync("c", "b", default))!.ETag); // before the last fifth: nothing asked
        Assert.Equal(1, origin.Lookups);

        time.Advance(TimeSpan.FromSeconds(0.2)); // 4.1 s of 5
        var held = new TaskCompletionSource<BlobInfo?>(TaskCreationOptions.RunContinuationsAsynchronously);
        origin.Held = held;
        origin.ETag = "\"v2\"";
        ValueTask<BlobInfo?> lookup = cache.GetAsync("c", "b", default);
        Assert.True(lookup.IsCompleted, "the reader waited for the origin although the cached answer was still within its TTL");
        Assert.Equal("\"v1\"", (await lookup)!.ETag);
        Assert.Equal(2, origin.Lookups); // the refresh is on its way
        Assert.True(cache.GetAsync("c", "b", default).IsCompleted);
        Assert.Equal(2, origin.Lookups); // one refresh, however many readers

        held.SetResult(Info("\"v2\""));
        await Testing.Wait.UntilAsync(async () => (await cache.GetAsync("c", "b", default))!.ETag == "\"v2\"", TimeSpan.FromSeconds(10), "the refreshed answer to be served");
        time.Advance(TimeSpan.FromSeconds(3.9)); // the refreshed answer has its own TTL from when it came
        Assert.Equal("\"v2\"", (await cache.GetAsync("c", "b", default))!.ETag);
        Assert.Equal(2, origin.Lookups);
    }
}
