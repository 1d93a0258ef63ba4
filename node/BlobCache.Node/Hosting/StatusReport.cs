using System.Text.Json.Serialization;
using BlobCache.Node.Config;
using BlobCache.Node.Gossip;
using BlobCache.Node.Security;
using BlobCache.Node.Telemetry;
using BlobCache.Store;

namespace BlobCache.Node.Hosting;

/// <summary>What <c>GET /status</c> answers and <c>blobcache status</c> prints.</summary>
public sealed record StatusReport(
    string Node, string Region, string Zone, int LiveMembers,
    IReadOnlyList<StatusMember> Members,
    IReadOnlyDictionary<string, long> ReadsBySource,
    IReadOnlyDictionary<string, long> BytesBySource,
    long BlobGets, long PeerServed, long PeerFailures, int PeerServeMaxConcurrency,
    long MemoryBytes, long MemoryChunks, long DiskBytes, long DiskChunks,
    long MemoryEvictions, long DiskEvictions, long CorruptFiles, long DiskWriteErrors, long DiskWritesDropped,
    long OriginErrors, long GossipPacketsDropped,
    string PeerTransport, long UdpFramesDropped,
    long GossipPacketsUnauthenticated, long UdpConnectionsUnauthenticated, StatusKeyring? GossipKeyring,
    StatusGossipTransfers? GossipTransfers = null,
    int PeerSendMaxConcurrency = 0, int PeerSending = 0, long PeerHandoffs = 0, long PeerBusyAnswers = 0, long PeerRequests = 0, StatusMetadata? Metadata = null)
{
    public static StatusReport Build(NodeOptions options, GossipHost gossip, ChunkStore store, NodeMetrics metrics, long udpFramesDropped = 0,
        GossipKeyFile? keys = null, long udpUnauthenticated = 0, MetadataMetrics? metadata = null)
    {
        MeshSnapshot mesh = gossip.Current;
        ChunkStoreStats s = store.Stats;
        return new StatusReport(options.NodeId, options.Region, options.Zone, mesh.LiveCount,
            mesh.Members.Select(m => new StatusMember(m.Id, m.Region, m.Zone, m.State.ToString().ToLowerInvariant(), m.Incarnation, m.GossipAddress)).ToArray(),
            metrics.ReadsBySource(), metrics.BytesBySource(), metrics.BlobGets, metrics.PeerServedCount, metrics.PeerFailures, metrics.PeerServeMaxConcurrency,
            s.MemoryBytes, s.MemoryChunks, s.DiskBytes, s.DiskChunks, s.MemoryEvictions, s.DiskEvictions, s.CorruptFiles, s.DiskWriteErrors, s.DiskWritesDropped,
            metrics.OriginErrors, gossip.DroppedPackets, options.PeerTransport.ToString().ToLowerInvariant(), udpFramesDropped,
            gossip.UnauthenticatedPackets, udpUnauthenticated, keys is null ? null : StatusKeyring.Of(keys), StatusGossipTransfers.Of(gossip),
            metrics.PeerSendMaxConcurrency, metrics.PeerSending, metrics.PeerHandoffs, metrics.PeerBusyAnswers, metrics.PeerRequests,
            metadata is null ? null : new StatusMetadata(metadata.FromPeers, metadata.FromBlob, metadata.Served, metadata.ContentServed));
    }
}

/// <summary>
/// Blob property lookups past this node's cache by who answered, and peers' metadata requests this node answered
/// (<see cref="ContentServed"/>: those whose answer carried a one-chunk blob's bytes).
/// </summary>
public sealed record StatusMetadata(long LookupsFromPeers, long LookupsFromBlob, long Served, long ContentServed);

/// <summary>
/// How gossip left this node: datagrams, state transfers by stream (joins and push-pulls too big for a datagram),
/// and messages refused for being over the datagram budget (a bug if ever non-zero).
/// </summary>
public sealed record StatusGossipTransfers(long DatagramsSent, long DatagramBytesSent, long OversizeDatagrams, long StreamsSent, long StreamBytesSent,
    long StreamsReceived, long StreamBytesReceived, long StreamSendFailures, long StreamsRejected)
{
    public static StatusGossipTransfers Of(GossipHost g) => new(g.SentPackets, g.SentPacketBytes, g.OversizeDatagrams, g.StreamsSent, g.StreamBytesSent,
        g.StreamsReceived, g.StreamBytesReceived, g.StreamSendFailures, g.StreamsRejected);
}

/// <summary>The keyring in use (null under --insecure): fingerprints only, never keys.</summary>
public sealed record StatusKeyring(string File, IReadOnlyList<StatusKey> Keys, long Reloads, long ReloadErrors, string? LastError)
{
    public static StatusKeyring Of(GossipKeyFile file) => new(file.Path,
        file.Current.Keys.Select((k, i) => new StatusKey(k.Id, i == 0, k.PacketsOpened, k.PacketsSealed)).ToArray(),
        file.Reloads, file.ReloadErrors, file.LastError);
}

public sealed record StatusKey(string Fingerprint, bool Primary, long PacketsOpened, long PacketsSealed);

public sealed record StatusMember(string Id, string Region, string Zone, string State, uint Incarnation, string Address);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(StatusReport))]
public sealed partial class StatusJson : JsonSerializerContext;
