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

        public Task<AgedAnswer<byte[]>> FromPeerAsync(MemberMeta peer, string key, bool direct, TimeSpan timeout, CancellationToken cancellationToken) =>
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
}
