using BenchmarkDotNet.Attributes;
using BlobCache.Node.Config;
using BlobCache.Node.Endpoint;
using BlobCache.Node.Origin;
using BlobCache.Node.Reading;
using BlobCache.Node.Telemetry;
using BlobCache.Store;
using BlobCache.Testing;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobCache.Benchmarks;

/// <summary>
/// A whole ranged Get Blob through the node's endpoint code (path split, metadata cache, range parsing, headers,
/// memory-tier hit, body write), in process, without Kestrel or a socket: what one request costs the node beyond
/// what ASP.NET Core costs. The baseline builds the same request context and does nothing with it, so the
/// difference is the endpoint's own time and allocations.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class EndpointReadBenchmarks
{
    private const string Target = "/devstoreaccount1/sample/shard-001.bin";
    private ChunkStore _store = null!;
    private ChunkReader _reader = null!;
    private BlobEndpoint _endpoint = null!;

    [GlobalSetup]
    public void Setup()
    {
        var origin = new SampleOrigin();
        var options = new NodeOptions();
        _store = new ChunkStore(new ChunkStoreOptions { MemoryBytes = 256L << 20, DiskBytes = 0 });
        var metrics = new NodeMetrics();
        _reader = new ChunkReader(options, _store, origin, new NoMesh(), new NoPeers(), metrics, NullLogger.Instance);
        var metadata = new BlobMetadataCache(origin, TimeSpan.FromHours(1));
        _endpoint = new BlobEndpoint(origin, metadata, _reader, metrics, [], NullLogger<BlobEndpoint>.Instance);
        // The blob's chunks in the memory tier, as after a first read.
        BlobInfo info = origin.GetBlobAsync(SampleOrigin.Container, "shard-001.bin", default).GetAwaiter().GetResult()!;
        for (long i = 0; i * options.ChunkSize < info.Length; i++)
        {
            ChunkBuffer chunk = ChunkBuffer.Rent((int)Math.Min(options.ChunkSize, info.Length - i * options.ChunkSize));
            origin.ReadAsync(SampleOrigin.Container, "shard-001.bin", info.ETag, info.Length, i * options.ChunkSize, chunk.WritableMemory, default).GetAwaiter().GetResult();
            chunk.Seal();
            _store.Put(new ChunkId(origin.AccountName, SampleOrigin.Container, "shard-001.bin", info.ETag, i), chunk);
            chunk.Release();
        }
        if (Read64KiB().GetAwaiter().GetResult() != 206) throw new InvalidOperationException("the endpoint did not answer 206");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _reader.Dispose();
        _store.Dispose();
    }

    // What Kestrel hands the endpoint: method, raw target, the range header, a body to write to.
    private static DefaultHttpContext Context(string range)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = HttpMethods.Get;
        context.Features.Get<IHttpRequestFeature>()!.RawTarget = Target;
        context.Request.Path = Target;
        context.Request.Headers["x-ms-range"] = range;
        context.Request.Headers["x-ms-version"] = "2025-01-05";
        return context;
    }

    [Benchmark(Baseline = true)]
    public int ContextOnly() => Context("bytes=4259840-4325375").Response.StatusCode;

    /// <summary>64 KiB inside the second chunk (not sequential: the same range again each time, so no read-ahead).</summary>
    [Benchmark]
    public async Task<int> Read64KiB()
    {
        DefaultHttpContext context = Context("bytes=4259840-4325375");
        await _endpoint.HandleAsync(context).ConfigureAwait(false);
        return context.Response.StatusCode;
    }

    /// <summary>The whole second chunk.</summary>
    [Benchmark]
    public async Task<int> Read4MiB()
    {
        DefaultHttpContext context = Context("bytes=4194304-8388607");
        await _endpoint.HandleAsync(context).ConfigureAwait(false);
        return context.Response.StatusCode;
    }
}
