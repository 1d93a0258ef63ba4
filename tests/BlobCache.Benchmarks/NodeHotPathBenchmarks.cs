using System.Buffers;
using System.IO.Hashing;
using BenchmarkDotNet.Attributes;
using BlobCache.Node.Endpoint;
using BlobCache.Protocol.Gossip;
using BlobCache.Protocol.Security;
using BlobCache.Store;

namespace BlobCache.Benchmarks;

/// <summary>
/// The per-message and per-chunk costs on the node's hot paths, each beside a baseline: decoding and encoding a
/// full gossip datagram (plain, and sealed/opened with AES-256-GCM as a node with a keyring does), checksumming a 4 MiB chunk (XxHash3, ours, against CRC-32), parsing a range header, and a
/// memory-tier hit (lookup, reference, release) — which must allocate nothing.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[GroupBenchmarksBy(BenchmarkDotNet.Configs.BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class NodeHotPathBenchmarks
{
    private const int ChunkBytes = 4 * 1024 * 1024;
    private readonly ArrayBufferWriter<byte> _writer = new(2048);
    private Gossip _message = null!;
    private byte[] _packet = [];
    private byte[] _sealed = [];
    private readonly byte[] _sealBuffer = new byte[4096];
    private readonly byte[] _openBuffer = new byte[4096];
    private Keyring _ring = null!;
    private byte[] _chunkBytes = [];
    private ChunkStore _store = null!;
    private ChunkId _id;

    [GlobalSetup]
    public void Setup()
    {
        // A gossip datagram as the node sends it: full of rumours (about 1,400 bytes).
        var updates = new List<MemberUpdate>();
        for (int i = 0; i < 24; i++) updates.Add(new MemberUpdate(UpdateKind.Suspect, $"node-{i:D5}", (uint)i, "node-00042", null));
        _message = new Gossip { SourceId = "node-00042", Updates = updates };
        _packet = GossipCodec.Encode(_message);
        // The node's ring during a rotation: the packet names the second key, found by fingerprint.
        byte[] primary = System.Security.Cryptography.RandomNumberGenerator.GetBytes(Keyring.KeyBytes);
        byte[] secondary = System.Security.Cryptography.RandomNumberGenerator.GetBytes(Keyring.KeyBytes);
        _ring = Keyring.Create([primary, secondary]);
        Keyring sender = Keyring.Create([secondary]);
        _sealed = new byte[_packet.Length + GossipSeal.Overhead];
        GossipSeal.Seal(sender, _packet, _sealed);

        _chunkBytes = new byte[ChunkBytes];
        new Random(1).NextBytes(_chunkBytes);
        _store = new ChunkStore(new ChunkStoreOptions { MemoryBytes = 64L << 20, DiskBytes = 0 });
        _id = new ChunkId("devstoreaccount1", "data", "train/shard-0001.bin", "\"0x8DC0FFEE\"", 3);
        ChunkBuffer chunk = ChunkBuffer.Rent(ChunkBytes);
        _chunkBytes.CopyTo(chunk.Writable);
        chunk.Seal();
        _store.Put(_id, chunk);
        chunk.Release();
    }

    [GlobalCleanup]
    public void Cleanup() => _store.Dispose();

    [Benchmark, BenchmarkCategory("gossip")]
    public int GossipEncode()
    {
        _writer.ResetWrittenCount();
        GossipCodec.Encode(_message, _writer);
        return _writer.WrittenCount;
    }

    [Benchmark, BenchmarkCategory("gossip")]
    public int GossipDecode() =>
        GossipCodec.TryDecode(_packet, WireLimits.Default, out GossipMessage? m, out _) ? m!.Updates.Count : -1;

    /// <summary>What the node does per sent datagram with a keyring: encode, then seal under the primary key.</summary>
    [Benchmark, BenchmarkCategory("gossip")]
    public int GossipEncodeSealed()
    {
        _writer.ResetWrittenCount();
        GossipCodec.Encode(_message, _writer);
        return GossipSeal.Seal(_ring, _writer.WrittenSpan, _sealBuffer);
    }

    /// <summary>What the node does per received datagram with a keyring: open (key found by fingerprint), then decode.</summary>
    [Benchmark, BenchmarkCategory("gossip")]
    public int GossipOpenDecode()
    {
        if (GossipSeal.Open(_ring, _sealed, _openBuffer, out int n, out _) != OpenStatus.Ok) return -1;
        return GossipCodec.TryDecode(_openBuffer.AsMemory(0, n), WireLimits.Default, out GossipMessage? m, out _) ? m!.Updates.Count : -1;
    }

    /// <summary>Seal and open alone, on the encoded datagram: the cost encryption adds.</summary>
    [Benchmark, BenchmarkCategory("gossip")]
    public int GossipSealOnly() => GossipSeal.Seal(_ring, _packet, _sealBuffer);

    [Benchmark, BenchmarkCategory("gossip")]
    public int GossipOpenOnly() => GossipSeal.Open(_ring, _sealed, _openBuffer, out int n, out _) == OpenStatus.Ok ? n : -1;

    [Benchmark, BenchmarkCategory("checksum")]
    public ulong ChecksumXxHash3() => XxHash3.HashToUInt64(_chunkBytes);

    [Benchmark(Baseline = true), BenchmarkCategory("checksum")]
    public uint ChecksumCrc32Baseline() => Crc32.HashToUInt32(_chunkBytes);

    [Benchmark, BenchmarkCategory("range")]
    public long ParseRange() =>
        ByteRange.Resolve("bytes=4194304-8388607", "", 1L << 30).Length + ByteRange.Resolve("", "bytes=-65536", 1L << 30).Length;

    [Benchmark, BenchmarkCategory("read")]
    public int MemoryTierHit()
    {
        if (!_store.TryGet(_id, out ChunkBuffer? chunk, out _)) return -1;
        int length = chunk!.Length;
        chunk.Release();
        return length;
    }
}
