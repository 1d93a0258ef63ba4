using BlobCache.Node.Reading;
using BlobCache.Protocol.Gossip;

namespace BlobCache.Node.Tests.Unit;

public sealed class LookupCacheTests
{
    /// <summary>Blob's answers by key: a byte array of the length the key names.</summary>
    private sealed class Sized : ILookupSource<string, byte[]>
    {
        public int Asked;

        public Task<byte[]> FromOriginAsync(string key)
        {
            Interlocked.Increment(ref Asked);
            return Task.FromResult(new byte[int.Parse(key.Split('-')[0])]);
        }

        public ulong RouteKey(string key) => 0;

        public Task<AgedAnswer<byte[]>> FromPeerAsync(MemberMeta peer, string key, bool direct, bool withContent, TimeSpan timeout, CancellationToken cancellationToken) =>
            throw new NotSupportedException();
    }

    [Fact]
    public async Task Answers_kept_never_weigh_more_than_the_bound_and_one_heavier_than_it_is_not_kept_at_all()
    {
        var origin = new Sized();
        var cache = new LookupCache<string, byte[]>(origin, TimeSpan.FromMinutes(5), null, null, null, a => a.Length, maxWeight: 100);
        await cache.GetAsync("40-a", MetadataAsker.Reader, default);
        await cache.GetAsync("40-b", MetadataAsker.Reader, default);
        await cache.GetAsync("40-a", MetadataAsker.Reader, default);
        await cache.GetAsync("40-b", MetadataAsker.Reader, default);
        Assert.Equal(2, origin.Asked); // both kept: 80 of 100

        await cache.GetAsync("40-c", MetadataAsker.Reader, default); // 120 would pass the bound: the others go
        await cache.GetAsync("40-c", MetadataAsker.Reader, default);
        await cache.GetAsync("40-a", MetadataAsker.Reader, default);
        Assert.Equal(4, origin.Asked);

        await cache.GetAsync("150-huge", MetadataAsker.Reader, default);
        await cache.GetAsync("150-huge", MetadataAsker.Reader, default);
        Assert.Equal(6, origin.Asked); // answered every time, never kept
    }

    /// <summary>A clock that stands still and can run one action when next read (to interleave a lookup with another).</summary>
    private sealed class HeldClock : TimeProvider
    {
        public long Now;
        public Action? OnNextRead;

        public override long TimestampFrequency => 1_000_000;

        public override long GetTimestamp()
        {
            Action? act = OnNextRead;
            OnNextRead = null;
            act?.Invoke();
            return Now;
        }
    }

    /// <summary>
    /// Completes <paramref name="ask"/> so that the lookup waiting on it finishes before this returns. Under the test
    /// runner's synchronization context an awaiting continuation is queued instead of run inline, which would let
    /// the interleaving this test needs happen or not by the thread pool's timing.
    /// </summary>
    private static void AnswerInline(TaskCompletionSource<string> ask, string value)
    {
        SynchronizationContext? context = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            ask.SetResult(value);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(context);
        }
    }

    /// <summary>Blob, answering each request when the test says.</summary>
    private sealed class Gated : ILookupSource<string, string>
    {
        public readonly List<TaskCompletionSource<string>> Asks = [];

        public Task<string> FromOriginAsync(string key)
        {
            var answer = new TaskCompletionSource<string>(); // continuations may run inline (see AnswerInline)
            lock (Asks) Asks.Add(answer);
            return answer.Task;
        }

        public ulong RouteKey(string key) => 0;

        public Task<AgedAnswer<string>> FromPeerAsync(MemberMeta peer, string key, bool direct, bool withContent, TimeSpan timeout, CancellationToken cancellationToken) =>
            throw new NotSupportedException();
    }

    [Theory]
    [InlineData(MetadataAsker.Reader)]
    [InlineData(MetadataAsker.PeerDirect)]
    public async Task A_lookup_overtaken_by_the_refresh_of_the_answer_it_read_takes_the_new_answer_instead_of_asking_Blob_again(MetadataAsker second)
    {
        var clock = new HeldClock();
        var origin = new Gated();
        var ttl = TimeSpan.FromSeconds(10);
        var cache = new LookupCache<string, string>(origin, ttl, clock, null, null, _ => 1, maxWeight: 100);
        ValueTask<AgedAnswer<string>> first = cache.GetAsync("k", MetadataAsker.Reader, default);
        origin.Asks[0].SetResult("v1");
        Assert.Equal("v1", (await first).Value);

        clock.Now = 9_000_000; // the last fifth of the TTL: the next reader refreshes in the background
        Assert.Equal("v1", (await cache.GetAsync("k", MetadataAsker.Reader, default)).Value);
        Assert.Equal(2, origin.Asks.Count);

        // The next lookup reads v1, and before it decides what to do with it, the refresh lands.
        clock.OnNextRead = () => AnswerInline(origin.Asks[1], "v2");
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10)); // a peer would wait on a third request no one answers
        AgedAnswer<string> got = await cache.GetAsync("k", second, deadline.Token);

        Assert.Equal(2, origin.Asks.Count); // the refresh answered for this TTL; a third request would be a second in one TTL
        Assert.Equal(second == MetadataAsker.Reader ? "v1" : "v2", got.Value);
        Assert.Equal("v2", (await cache.GetAsync("k", MetadataAsker.Reader, default)).Value);
    }

    [Fact]
    public async Task A_peer_waiting_for_a_refresh_that_fails_gets_the_failure_once_the_old_answer_is_past_its_TTL_never_the_stale_answer()
    {
        var clock = new HeldClock();
        var origin = new Gated();
        var cache = new LookupCache<string, string>(origin, TimeSpan.FromSeconds(10), clock, null, null, _ => 1, maxWeight: 100);
        ValueTask<AgedAnswer<string>> first = cache.GetAsync("k", MetadataAsker.Reader, default);
        origin.Asks[0].SetResult("v1");
        await first;

        clock.Now = 9_000_000;
        ValueTask<AgedAnswer<string>> early = cache.GetAsync("k", MetadataAsker.PeerDirect, default);
        ValueTask<AgedAnswer<string>> late = cache.GetAsync("k", MetadataAsker.PeerDirect, default);
        Assert.Equal(2, origin.Asks.Count); // one refresh for both
        clock.Now = 10_500_000; // Blob refuses the refresh after v1 ran out
        origin.Asks[1].SetException(new InvalidOperationException("throttled"));

        // An answer 10.5 s old for a 10 s TTL would send the peer on to the next owner and Blob, the request that failed here.
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await early);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await late);
    }
}
