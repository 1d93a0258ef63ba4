using BlobCache.Mesh.Placement;
using BlobCache.Mesh.Reading;
using BlobCache.Node.Gossip;
using BlobCache.Node.Origin;
using BlobCache.Node.Peers;
using BlobCache.Node.Peers.Tcp;
using BlobCache.Node.Reading;
using BlobCache.Node.Telemetry;
using BlobCache.Protocol.Gossip;
using Microsoft.Extensions.Logging.Abstractions;

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

        public Task ReadAsync(string container, string blob, string etag, long blobLength, long offset, Memory<byte> destination, CancellationToken cancellationToken) => throw new NotSupportedException();
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

    /// <summary>Two peers that own every key (this node owns none), whose answers the test scripts: <see cref="Answer"/>, or a failure when null.</summary>
    private sealed class ScriptedPeers : IMetadataPeerClient, IMeshView
    {
        public PeerMetadata? Answer;
        public int Asks, Throttled;
        public readonly List<string> Asked = [];

        public MeshSnapshot Current { get; } = new(0, "r",
            PlacementMap.Build([("r", new PlacementMember(1, 11, 100)), ("r", new PlacementMember(2, 22, 100))]),
            [Meta("self"), Meta("one"), Meta("two")], [], 1);

        private static MemberMeta Meta(string id) => new(id, "127.0.0.1:1", "127.0.0.1:2", "", "r", "z", 100, 1);

        public (MetadataRouter Router, IMetadataPeerClient Client) Wiring =>
            (new MetadataRouter(this, "self", new MetadataRouting(), new MetadataMetrics(new System.Diagnostics.Metrics.Meter("test")), NullLogger.Instance), this);

        public Task<PeerBlobAnswer> AskBlobAsync(MemberMeta peer, string container, string blob, bool direct, bool withContent, TimeSpan timeout, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Asks);
            lock (Asked) Asked.Add(peer.Id);
            if (Interlocked.Decrement(ref Throttled) >= 0) return Task.FromException<PeerBlobAnswer>(new PeerThrottledException($"{peer.Id}: throttled"));
            return Answer is { } a
                ? Task.FromResult(new PeerBlobAnswer(new AgedAnswer<BlobLookup>(new BlobLookup(a.Kind, a.Info), a.Age), null))
                : Task.FromException<PeerBlobAnswer>(new PeerTransferException($"{peer.Id} is down"));
        }

        public Task<AgedAnswer<PassThroughResult>> AskPassThroughAsync(MemberMeta peer, PassThroughKey key, bool direct, TimeSpan timeout, CancellationToken cancellationToken) =>
            throw new NotSupportedException();
    }

    private static BlobMetadataCache CacheOver(IBlobOrigin origin, TimeProvider time, ScriptedPeers peers)
    {
        (MetadataRouter router, IMetadataPeerClient client) = peers.Wiring;
        return new BlobMetadataCache(origin, TimeSpan.FromSeconds(5), time, router, client);
    }

    [Fact]
    public async Task A_blob_the_owner_knows_is_not_asked_of_Blob_and_is_kept_for_the_rest_of_its_TTL_since_Blob_answered()
    {
        var origin = new ScriptedOrigin();
        var time = new ManualTime();
        var peers = new ScriptedPeers { Answer = new PeerMetadata(PeerMetadataKind.Found, Info("\"peer\""), TimeSpan.FromSeconds(3)) };
        var cache = CacheOver(origin, time, peers);

        Assert.Equal("\"peer\"", (await cache.GetAsync("c", "b", default))!.ETag);
        Assert.Equal((0, 1), (origin.Lookups, peers.Asks));
        time.Advance(TimeSpan.FromSeconds(0.9)); // 3.9 s since Blob answered: still fresh, before the refresh window
        Assert.Equal("\"peer\"", (await cache.GetAsync("c", "b", default))!.ETag);
        Assert.Equal(1, peers.Asks);
        time.Advance(TimeSpan.FromSeconds(1.2)); // 5.1 s since Blob answered: past the TTL, whatever this node's own clock says
        peers.Answer = new PeerMetadata(PeerMetadataKind.Found, Info("\"newer\""), TimeSpan.Zero);
        Assert.Equal("\"newer\"", (await cache.GetAsync("c", "b", default))!.ETag);
        Assert.Equal((0, 2), (origin.Lookups, peers.Asks));
    }

    [Fact]
    public async Task An_answer_a_peer_gives_late_in_its_TTL_is_not_asked_again_by_every_following_lookup()
    {
        var origin = new ScriptedOrigin();
        var time = new ManualTime();
        // The peer's answer is already in its last fifth: the peer is refreshing it and gives the same answer until then.
        var peers = new ScriptedPeers { Answer = new PeerMetadata(PeerMetadataKind.Found, Info("\"peer\""), TimeSpan.FromSeconds(4.5)) };
        var cache = CacheOver(origin, time, peers);
        for (int i = 0; i < 10; i++) Assert.Equal("\"peer\"", (await cache.GetAsync("c", "b", default))!.ETag);
        Assert.Equal(1, peers.Asks);

        // Asked again before it expires (a reader never waits), and after an unchanged answer again later still, not at once.
        time.Advance(TimeSpan.FromSeconds(0.3));
        for (int i = 0; i < 10; i++) await cache.GetAsync("c", "b", default);
        await Testing.Wait.UntilAsync(() => Task.FromResult(Volatile.Read(ref peers.Asks) == 2), TimeSpan.FromSeconds(10), "one refresh");
        for (int i = 0; i < 10; i++) await cache.GetAsync("c", "b", default);
        Assert.Equal(2, peers.Asks);
        Assert.Equal(0, origin.Lookups);
    }

    [Fact]
    public async Task When_no_peer_answers_the_node_asks_Blob()
    {
        var origin = new ScriptedOrigin();
        var peers = new ScriptedPeers();
        var cache = CacheOver(origin, new ManualTime(), peers);
        Assert.Equal("\"v1\"", (await cache.GetAsync("c", "b", default))!.ETag);
        Assert.Equal((1, 2), (origin.Lookups, peers.Asks)); // both owners, then Blob
    }

    [Fact]
    public async Task After_Invalidate_the_next_lookup_asks_Blob_not_the_owner_that_may_hold_the_stale_version()
    {
        var origin = new ScriptedOrigin { ETag = "\"v2\"" };
        var peers = new ScriptedPeers { Answer = new PeerMetadata(PeerMetadataKind.Found, Info("\"v1\""), TimeSpan.Zero) };
        var cache = CacheOver(origin, new ManualTime(), peers);
        Assert.Equal("\"v1\"", (await cache.GetAsync("c", "b", default))!.ETag);
        cache.Invalidate("c", "b");
        Assert.Equal("\"v2\"", (await cache.GetAsync("c", "b", default))!.ETag);
        Assert.Equal((1, 1), (origin.Lookups, peers.Asks));
    }

    [Fact]
    public async Task A_direct_request_from_a_peer_is_answered_from_Blob_with_its_age_and_never_forwarded()
    {
        var origin = new ScriptedOrigin();
        var time = new ManualTime();
        var peers = new ScriptedPeers { Answer = new PeerMetadata(PeerMetadataKind.Found, Info("\"peer\""), TimeSpan.Zero) };
        var cache = CacheOver(origin, time, peers);
        PeerMetadata first = await cache.AnswerPeerAsync("c", "b", direct: true, default);
        Assert.Equal((PeerMetadataKind.Found, "\"v1\"", TimeSpan.Zero), (first.Kind, first.Info!.ETag, first.Age));
        time.Advance(TimeSpan.FromSeconds(2));
        PeerMetadata second = await cache.AnswerPeerAsync("c", "b", direct: true, default);
        Assert.Equal(TimeSpan.FromSeconds(2), second.Age);
        Assert.Equal((1, 0), (origin.Lookups, peers.Asks));
    }

    [Fact]
    public async Task A_peer_asking_in_the_last_fifth_of_the_TTL_waits_for_the_refresh_and_gets_the_fresh_answer()
    {
        var origin = new ScriptedOrigin();
        var time = new ManualTime();
        var cache = CacheOver(origin, time, new ScriptedPeers());
        Assert.Equal("\"v1\"", (await cache.AnswerPeerAsync("c", "b", direct: true, default)).Info!.ETag);
        time.Advance(TimeSpan.FromSeconds(4.1));
        var held = new TaskCompletionSource<BlobInfo?>(TaskCreationOptions.RunContinuationsAsynchronously);
        origin.Held = held;
        ValueTask<PeerMetadata> asked = cache.AnswerPeerAsync("c", "b", direct: true, default);
        // An answer 4.1 s old would be the peer's for 0.9 s and send it back at once; a reader here is not kept waiting.
        Assert.False(asked.IsCompleted, "the peer got the answer from the last fifth of its TTL");
        Assert.True(cache.GetAsync("c", "b", default).IsCompleted);
        held.SetResult(Info("\"v2\""));
        PeerMetadata fresh = await asked;
        Assert.Equal(("\"v2\"", TimeSpan.Zero), (fresh.Info!.ETag, fresh.Age));
        Assert.Equal(2, origin.Lookups);
    }

    [Fact]
    public async Task A_peer_asking_in_the_last_fifth_gets_the_answer_still_within_its_TTL_when_the_refresh_fails()
    {
        var origin = new ScriptedOrigin();
        var time = new ManualTime();
        var cache = CacheOver(origin, time, new ScriptedPeers());
        await cache.AnswerPeerAsync("c", "b", direct: true, default);
        time.Advance(TimeSpan.FromSeconds(4.1));
        var failing = new TaskCompletionSource<BlobInfo?>();
        failing.SetException(new OriginException(503, "ServerBusy", "throttled"));
        origin.Held = failing;
        PeerMetadata kept = await cache.AnswerPeerAsync("c", "b", direct: true, default);
        Assert.Equal(("\"v1\"", TimeSpan.FromSeconds(4.1)), (kept.Info!.ETag, kept.Age));
    }

    [Fact]
    public async Task A_missing_container_is_told_to_peers_as_such_and_readers_get_ContainerNotFound()
    {
        var origin = new MissingContainerOrigin();
        var cache = CacheOver(origin, new ManualTime(), new ScriptedPeers());
        Assert.Equal(PeerMetadataKind.NoContainer, (await cache.AnswerPeerAsync("c", "b", direct: true, default)).Kind);
        OriginException e = await Assert.ThrowsAsync<OriginException>(async () => await cache.GetAsync("c", "b", default));
        Assert.Equal((404, "ContainerNotFound"), (e.Status, e.Code));
        Assert.Equal(1, origin.Lookups); // the answer is kept like any other
    }

    private sealed class MissingContainerOrigin : IBlobOrigin
    {
        public int Lookups;
        public string AccountName => "acct";
        public string Describe => "no containers";

        public Task<BlobInfo?> GetBlobAsync(string container, string blob, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Lookups);
            return Task.FromException<BlobInfo?>(new OriginException(404, "ContainerNotFound", "The specified container does not exist."));
        }

        public Task ReadAsync(string container, string blob, string etag, long blobLength, long offset, Memory<byte> destination, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<ContainerInfo?> GetContainerAsync(string container, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<ListPage?> ListAsync(string container, string? prefix, string? delimiter, string? marker, int? maxResults, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<bool> PingAsync(CancellationToken cancellationToken) => Task.FromResult(true);
    }

    [Fact]
    public async Task An_owner_whose_Blob_is_throttling_is_asked_again_and_the_node_does_not_ask_Blob_itself()
    {
        var origin = new ScriptedOrigin();
        var peers = new ScriptedPeers { Throttled = 2, Answer = new PeerMetadata(PeerMetadataKind.Found, Info("\"peer\""), TimeSpan.Zero) };
        var cache = CacheOver(origin, new ManualTime(), peers);
        Assert.Equal("\"peer\"", (await cache.GetAsync("c", "b", default))!.ETag);
        Assert.Equal(0, origin.Lookups);
        Assert.Single(peers.Asked.Distinct()); // the same owner three times, never the second owner or Blob
        Assert.Equal(3, peers.Asks);
    }

    [Fact]
    public async Task A_node_asking_a_throttled_owner_for_a_peer_answers_the_peer_busy_at_once_and_asks_no_one_else()
    {
        var origin = new ScriptedOrigin();
        var peers = new ScriptedPeers { Throttled = 1000 };
        var cache = CacheOver(origin, new ManualTime(), peers);
        var serve = new PeerMetadataServe(cache, null, "acct", null, null, NullLogger.Instance);

        // Asked as a deputy (not direct): this node asks the owner, which says Blob is throttling it.
        PeerMetadataOutcome answer = await serve.ServeAsync(new BlobCache.Store.ChunkId("acct", "cont", "b", "", 0), direct: false, withContent: false, "asker", null, default)
            .AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(PeerServeStatus.Busy, answer.Status);
        Assert.Equal((1, 0), (peers.Asks, origin.Lookups)); // the asker backs off and asks the owner itself
    }
}
