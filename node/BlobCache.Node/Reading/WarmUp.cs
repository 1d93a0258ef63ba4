using System.Diagnostics;
using System.Text.Json.Serialization;
using BlobCache.Node.Gossip;
using BlobCache.Node.Origin;
using BlobCache.Node.Peers;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Reading;

/// <summary>Progress (and, with <see cref="Done"/>, the summary) of one warm-up.</summary>
public sealed record WarmProgress(
    long Blobs, long ChunksTotal, long ChunksDone, long BytesDone, long FromBlob, long AlreadyCached, long Failed,
    double Seconds, bool Done, string? Error)
{
    public double GiBPerSecond => Seconds <= 0 ? 0 : BytesDone / (double)(1L << 30) / Seconds;
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(WarmProgress))]
public sealed partial class WarmJson : JsonSerializerContext;

/// <summary>
/// Pre-loads every chunk under a prefix into the cache of the chunk's owner in this region, in parallel across
/// the mesh: each owner reads Blob for its own chunks, and nothing is copied back to the node that asked.
/// </summary>
public sealed class WarmUp(ChunkReader reader, IBlobOrigin origin, IMeshView mesh, IChunkPeerClient peers, TimeSpan answerTimeout, ILogger logger)
{
    private const int Parallelism = 16;

    public async Task<WarmProgress> RunAsync(string container, string? prefix, Action<WarmProgress> progress, CancellationToken cancellationToken)
    {
        var sw = Stopwatch.StartNew();
        var blobs = new List<(string Name, BlobInfo Info)>();
        string? marker = null;
        do
        {
            ListPage page = await origin.ListAsync(container, prefix, null, marker, 5000, cancellationToken).ConfigureAwait(false)
                ?? throw new OriginException(404, "ContainerNotFound", $"container '{container}' does not exist");
            foreach (ListedBlob b in page.Items)
            {
                if (b.IsPrefix || b.Length == 0) continue;
                // The listing already carries each blob's ETag and length; ask the origin only when it did not.
                // Listings give the ETag bare; properties (which readers' chunk keys use) give it quoted.
                BlobInfo? info = b.ETag is { Length: > 0 } etag
                    ? new BlobInfo(b.Length, etag.StartsWith('"') ? etag : $"\"{etag}\"", b.LastModified ?? DateTimeOffset.UnixEpoch, b.ContentType ?? "application/octet-stream", null)
                    : await origin.GetBlobAsync(container, b.Name, cancellationToken).ConfigureAwait(false);
                if (info is not null && info.Length > 0) blobs.Add((b.Name, info));
            }
            marker = page.NextMarker;
        }
        while (marker is not null);

        long chunkSize = reader.ChunkSize;
        var work = blobs.SelectMany(b => Enumerable.Range(0, (int)((b.Info.Length + chunkSize - 1) / chunkSize))
            .Select(i => (Id: new ChunkId(origin.AccountName, container, b.Name, b.Info.ETag, i), b.Info.Length))).ToList();
        long done = 0, bytes = 0, fromBlob = 0, cached = 0, failed = 0;
        WarmProgress Snapshot(bool finished) => new(blobs.Count, work.Count, Interlocked.Read(ref done), Interlocked.Read(ref bytes),
            Interlocked.Read(ref fromBlob), Interlocked.Read(ref cached), Interlocked.Read(ref failed), sw.Elapsed.TotalSeconds, finished, null);
        long lastReport = 0;
        await Parallel.ForEachAsync(work, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken }, async (item, ct) =>
        {
            string source;
            try
            {
                source = await WarmOneAsync(item.Id, item.Length, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is PeerTransferException or OriginException or BlobChangedException or IOException or HttpRequestException)
            {
                logger.LogWarning("warm-up of {Chunk} failed: {Error}", item.Id, e.Message);
                Interlocked.Increment(ref failed);
                source = "failed";
            }
            if (source == "blob") Interlocked.Increment(ref fromBlob);
            else if (source != "failed") Interlocked.Increment(ref cached);
            if (source != "failed") Interlocked.Add(ref bytes, reader.ChunkLength(item.Length, item.Id.Index));
            Interlocked.Increment(ref done);
            long now = sw.ElapsedMilliseconds;
            long last = Interlocked.Read(ref lastReport);
            if (now - last >= 250 && Interlocked.CompareExchange(ref lastReport, now, last) == last) progress(Snapshot(false));
        }).ConfigureAwait(false);
        WarmProgress final = Snapshot(true);
        logger.LogInformation("warmed {Container}/{Prefix}: {Chunks} chunks of {Blobs} blobs, {GiB:F2} GiB in {Seconds:F1} s ({FromBlob} from Blob, {Cached} already cached, {Failed} failed)",
            container, prefix, final.ChunksDone, final.Blobs, final.BytesDone / (double)(1L << 30), final.Seconds, final.FromBlob, final.AlreadyCached, final.Failed);
        return final;
    }

    // The owner loads its own chunk; when the owner is this node, load it here.
    private async Task<string> WarmOneAsync(ChunkId id, long blobLength, CancellationToken ct)
    {
        MeshSnapshot snapshot = mesh.Current;
        int owner = snapshot.Placement.ForRegion(snapshot.Region).Owner(reader.PlacementKey(id, blobLength));
        MemberMeta? peer = owner >= 0 && owner != snapshot.Self ? snapshot.MetaOf(owner) : null;
        if (peer is not null)
        {
            try
            {
                return await peers.WarmAsync(peer, id, blobLength, answerTimeout, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is PeerTransferException or OperationCanceledException && !ct.IsCancellationRequested)
            {
                logger.LogWarning("owner {Peer} could not warm {Chunk} ({Error}); loading it here", peer.Id, id, e.Message);
            }
        }
        var served = await reader.ServePeerAsync(id, blobLength, fill: true, ct).ConfigureAwait(false);
        if (served is not { } s) return "failed";
        s.Chunk.Release();
        return s.Source switch { Telemetry.ReadSource.Memory => "memory", Telemetry.ReadSource.Disk => "disk", _ => "blob" };
    }
}
