using BenchmarkDotNet.Attributes;
using BlobCache.Mesh.Placement;

namespace BlobCache.Benchmarks;

/// <summary>
/// Per-lookup cost of <see cref="RegionPlacement"/> against textbook rendezvous (the baseline) at N members.
/// Each invocation looks up the next batch of a large pool of precomputed random keys, so results are ns per
/// lookup and the table is not kept cache-hot by re-reading the same few keys (that would flatter the ring).
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class PlacementBenchmarks
{
    private const int Batch = 1024;
    private const int PoolSize = 1 << 16;

    private readonly ulong[] _keys = new ulong[PoolSize];
    private int _offset;
    private readonly int[] _owners = new int[3];
    private PlacementMember[] _members = [];
    private RegionPlacement _placement = RegionPlacement.Empty;

    [Params(1_000, 10_000, 100_000)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _members = new PlacementMember[N];
        for (int i = 0; i < N; i++) _members[i] = new PlacementMember(i, StableHash.Of($"node-{i}"), 100);
        _placement = RegionPlacement.Build(_members);
        for (int i = 0; i < PoolSize; i++) _keys[i] = StableHash.Mix(0xBE7C, (ulong)i);
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public int Owner()
    {
        int sum = 0;
        foreach (ulong key in NextBatch()) sum += _placement.Owner(key);
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public int Owners3()
    {
        int sum = 0;
        foreach (ulong key in NextBatch()) sum += _placement.Owners(key, _owners);
        return sum;
    }

    // Batch / 16 keys: at 100k members one naive lookup is ~100k hashes, and the batch size does not change ns/op.
    [Benchmark(Baseline = true, OperationsPerInvoke = Batch / 16)]
    public int NaiveRendezvous()
    {
        int sum = 0;
        foreach (ulong key in NextBatch()[..(Batch / 16)]) sum += Mesh.Placement.NaiveRendezvous.Owner(_members, key);
        return sum;
    }

    private ReadOnlySpan<ulong> NextBatch()
    {
        _offset = (_offset + Batch) & (PoolSize - 1);
        return _keys.AsSpan(_offset, Batch);
    }
}
