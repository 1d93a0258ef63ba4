using BlobCache.Mesh.Placement;
using BlobCache.Node.Config;
using BlobCache.Node.Gossip;
using BlobCache.Node.Origin;
using BlobCache.Node.Peers;
using BlobCache.Node.Reading;
using BlobCache.Node.Telemetry;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobCache.Node.Tests.Unit;

/// <summary>The reader's side of a busy owner's answer: which of the members it names are asked, and how.</summary>
public sealed class HolderNamesTests
{
    private const int BlobLength = 1000;

    private static MemberMeta Meta(string id) => new(id, $"{id}:1", $"{id}:2", $"{id}:3", "local", "local-1", 100, 1);

    /// <summary>This node (0), the chunk's one owner (1), a live member (2) and a dead one (3).</summary>
    private sealed class FourMembers : IMeshView
    {
        public MeshSnapshot Current { get; } = new(0, "local",
            PlacementMap.Build([("local", new PlacementMember(1, 11, 100))]),
            [Meta("me"), Meta("owner"), Meta("live-one"), Meta("dead-one")],
            [
                new MemberStatus("me", "local", "local-1", MemberState.Alive, 0, "me:1"),
                new MemberStatus("owner", "local", "local-1", MemberState.Alive, 0, "owner:1"),
                new MemberStatus("live-one", "local", "local-1", MemberState.Suspect, 0, "live-one:1"),
                new MemberStatus("dead-one", "local", "local-1", MemberState.Dead, 0, "dead-one:1"),
            ], 1);
    }

    /// <summary>An owner that is busy and names a stranger, a dead member and a live one; the live one has the chunk.</summary>
    private sealed class BusyOwner : IChunkPeerClient
    {
        public List<(string Peer, bool Fill)> Asked { get; } = [];

        public Task<PeerReply> AskAsync(MemberMeta peer, ChunkId id, long blobLength, bool fill, TimeSpan answerTimeout, CancellationToken cancellationToken)
        {
            lock (Asked) Asked.Add((peer.Id, fill));
            if (peer.Id != "owner") return Task.FromResult(PeerReply.Of(Chunk()));
            var named = new PeerHolders();
            foreach (string name in (string[])["stranger", "dead-one", "me", "live-one"]) named.TryAdd(name);
            return Task.FromResult(PeerReply.Busy(named));
        }

        private static ChunkBuffer Chunk()
        {
            ChunkBuffer chunk = ChunkBuffer.Rent(BlobLength);
            chunk.Writable.Fill(7);
            chunk.Seal();
            return chunk;
        }

        public Task<string> WarmAsync(MemberMeta peer, ChunkId id, long blobLength, TimeSpan answerTimeout, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    [Fact]
    public async Task A_busy_owners_holders_are_asked_without_fill_only_when_this_nodes_own_view_has_them_alive()
    {
        using var store = new ChunkStore(new ChunkStoreOptions { MemoryBytes = 16L << 20, DiskBytes = 0 });
        using var metrics = new NodeMetrics();
        var peers = new BusyOwner();
        using var reader = new ChunkReader(new NodeOptions { ChunkSizeMb = 1 }, store, new SampleOrigin(), new FourMembers(), peers, metrics, NullLogger.Instance);

        (ChunkBuffer chunk, ReadSource source) = await reader.GetAsync(new ChunkId("devstoreaccount1", "data", "a.bin", "\"0x1\"", 0), BlobLength, CancellationToken.None);
        chunk.Release();

        Assert.Equal(ReadSource.Peer, source);
        Assert.Equal([("owner", true), ("live-one", false)], peers.Asked);
        Assert.Equal((1, 0), (metrics.PeerHandoffs, metrics.BlobGets));
    }
}
