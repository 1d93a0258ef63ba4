using BlobCache.Fuzz.Engine;

namespace BlobCache.Fuzz.Targets;

public static class AllTargets
{
    /// <summary>A fresh instance of every target (targets may hold state, so never share one between runs).</summary>
    public static IReadOnlyList<FuzzTarget> Create() =>
    [
        new GossipDecodeTarget(), new GossipStreamTarget(), new GossipReceiveTarget(), new UdpFramesTarget(), new GrpcFetchTarget(), new GrpcPieceTarget(),
        new RangeTarget(), new PathTarget(), new ListQueryTarget(), new OptionsTarget(),
        new TcpFramesTarget(), new ConnectTokenTarget(), new GossipOpenTarget(), new RequestHeadTarget(), new ChunkedBodyTarget(), new PeerHoldersTarget(), new PeerMetadataTarget(), new PeerMetadataContentTarget(), new PeerPassThroughTarget(),
    ];

    public static FuzzTarget Create(string name) =>
        Create().FirstOrDefault(t => t.Name == name) ?? throw new ArgumentException($"no target '{name}' (targets: {string.Join(", ", Names)})");

    public static IEnumerable<string> Names => Create().Select(t => t.Name);
}
