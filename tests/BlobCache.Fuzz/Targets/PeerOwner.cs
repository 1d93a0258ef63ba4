using BlobCache.Node.Config;
using BlobCache.Node.Origin;
using BlobCache.Node.Peers;
using BlobCache.Node.Reading;
using BlobCache.Node.Telemetry;
using BlobCache.Store;
using BlobCache.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobCache.Fuzz.Targets;

/// <summary>What an owner answered one request: its status and, when it sent a chunk, a copy of the bytes.</summary>
public readonly record struct PeerAnswer(ChunkId Id, PeerServeStatus Status, byte[]? Bytes);

/// <summary>
/// An owner's side of the peer transports, in process and real: <see cref="PeerServe"/> over a
/// <see cref="ChunkReader"/>, a memory <see cref="ChunkStore"/> and the node's <see cref="BlobMetadataCache"/>, with
/// the built-in sample origin (small blobs). Each transport's target hands it every request that decodes and passes
/// the transport's checks, so a forged one (a length, ETag or index the blob does not have) meets the code that
/// decides what is filled, kept and sent; <see cref="Check"/> then holds what was sent and what is kept to the
/// origin's bytes, and empties the store, so the next request finds nothing cached and must fill.
/// </summary>
public sealed class PeerOwner : IDisposable
{
    public const string Account = "devstoreaccount1";
    /// <summary>One MiB: the smallest chunk a node takes, so a sample blob of a few hundred bytes is one short chunk.</summary>
    public const int ChunkSize = 1 << 20;
    public const int BlobBytes = 300;

    private static readonly SampleOrigin Origin = new(blobs: 2, blobBytes: BlobBytes);
    private readonly ChunkStore _store = new(new ChunkStoreOptions { MemoryBytes = 16L << 20, DiskBytes = 0 });
    private readonly ChunkReader _reader;
    private readonly PeerServe _serve;

    public PeerOwner()
    {
        var metrics = new NodeMetrics();
        _reader = new ChunkReader(new NodeOptions { ChunkSizeMb = ChunkSize >> 20 }, _store, Origin, new NoMesh(), new NoPeers(), metrics, NullLogger.Instance);
        _serve = new PeerServe(_reader, new BlobMetadataCache(Origin, TimeSpan.FromHours(1)), metrics, NullLogger.Instance);
    }

    /// <summary>The sample blobs' ETag, as a requester that read their properties would send it.</summary>
    public static string ETag { get; } = Origin.GetBlobAsync(SampleOrigin.Container, SampleOrigin.BlobName(0), default).GetAwaiter().GetResult()!.ETag;

    /// <summary>A request a peer could send for a sample blob: mostly the true ETag, often a false length (the forged case).</summary>
    public static (ChunkId Id, long BlobLength) Request(Random random)
    {
        string etag = random.Next(4) == 0 ? "\"0x1\"" : ETag;
        var id = new ChunkId(Account, SampleOrigin.Container, SampleOrigin.BlobName(random.Next(3)), etag, random.Next(4) == 0 ? 1 : 0);
        long length = random.Next(5) switch { 0 => 1, 1 => BlobBytes - 1, 2 => BlobBytes + 1, 3 => 2L * ChunkSize, _ => BlobBytes };
        return (id, length);
    }

    /// <summary>Serves one request the transport has accepted, to the end (a fill runs on the thread pool, as in a node).</summary>
    public PeerAnswer Serve(ChunkId id, long blobLength, bool fill)
    {
        PeerServeOutcome o = _serve.ReadAsync(id, blobLength, fill, "fuzz", CancellationToken.None).AsTask().GetAwaiter().GetResult();
        byte[]? bytes = o.Chunk?.Span.ToArray();
        o.Chunk?.Release();
        return new PeerAnswer(id, o.Status, bytes);
    }

    /// <summary>Null when what was sent and what is now kept for the chunk are the origin's bytes of it; else what is wrong.</summary>
    public string? Check(PeerAnswer answer)
    {
        string? problem = answer.Bytes is { } sent && !IsOrigins(answer.Id, sent) ? $"sent {sent.Length} bytes that are not {answer.Id}" : null;
        if (_store.TryGet(answer.Id, out ChunkBuffer? kept, out _))
        {
            if (!IsOrigins(answer.Id, kept!.Span)) problem ??= $"kept {kept.Length} bytes that are not {answer.Id}";
            kept.Release();
            _store.Discard(answer.Id);
        }
        return problem;
    }

    private static bool IsOrigins(ChunkId id, ReadOnlySpan<byte> bytes)
    {
        BlobInfo? info = Origin.GetBlobAsync(id.Container, id.Blob, default).GetAwaiter().GetResult();
        if (info is null || info.ETag != id.ETag) return false;
        long length = Math.Min(ChunkSize, info.Length - id.Index * ChunkSize);
        if (bytes.Length != length) return false;
        byte[] expected = new byte[length];
        Origin.ReadAsync(id.Container, id.Blob, id.ETag, info.Length, id.Index * ChunkSize, expected, default).GetAwaiter().GetResult();
        return bytes.SequenceEqual(expected);
    }

    public void Dispose()
    {
        _reader.Dispose();
        _store.Dispose();
    }
}
