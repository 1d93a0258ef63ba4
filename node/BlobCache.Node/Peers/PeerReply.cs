using BlobCache.Mesh.Reading;
using BlobCache.Store;

namespace BlobCache.Node.Peers;

/// <summary>
/// What a peer answered to a chunk request, the same for every transport: the chunk (<see cref="PeerAnswer.Chunk"/>,
/// one reference for the caller), "not here", "busy" with the <see cref="Holders"/> it names, or "blob changed"
/// with the peer's <see cref="Message"/>. A transfer that breaks or times out is not an answer: the transport
/// throws, and the reader turns that into <see cref="PeerAnswer.Failed"/> or <see cref="PeerAnswer.TimedOut"/>.
/// </summary>
public readonly record struct PeerReply(PeerAnswer Answer, ChunkBuffer? Chunk, PeerHolders Holders, string Message)
{
    public static PeerReply Of(ChunkBuffer chunk) => new(PeerAnswer.Chunk, chunk, default, "");

    public static PeerReply NotHere => new(PeerAnswer.NotHere, null, default, "");

    public static PeerReply Busy(in PeerHolders holders) => new(PeerAnswer.Busy, null, holders, "");

    public static PeerReply BlobChanged(string message) => new(PeerAnswer.BlobChanged, null, default, message);
}
