using BlobCache.Store;

namespace BlobCache.Node.Peers;

/// <summary>
/// The requester's checks of a chunk from a peer, the same for every transport: its length is the one this node's
/// own metadata gives for that chunk (never one the peer announces), and its bytes match the checksum that came
/// with them. A peer that fails either is treated like one that broke the transfer: the read moves on.
/// </summary>
public static class ReceivedChunk
{
    /// <summary>
    /// Bytes of chunk <paramref name="id"/> of a blob of <paramref name="blobLength"/> bytes (this node's own
    /// figure) in chunks of <paramref name="chunkSize"/>. Throws <see cref="PeerTransferException"/> for a chunk past the end.
    /// </summary>
    public static int ExpectedLength(in ChunkId id, long blobLength, int chunkSize)
    {
        long length = Math.Min(chunkSize, blobLength - id.Index * chunkSize);
        return length > 0 ? (int)length : throw new PeerTransferException($"chunk {id.Index} is outside a {blobLength}-byte blob");
    }

    /// <summary>
    /// Null when the length a peer announces is <paramref name="expected"/>, else what is wrong. Checked before a
    /// buffer is rented, so nothing is allocated from a length the peer chose.
    /// </summary>
    public static string? CheckAnnounced(string peerId, long announced, int expected) =>
        announced == expected ? null : $"{peerId} announced a chunk of {announced} bytes, expected {expected}";

    /// <summary>
    /// Seals a chunk received in full (<paramref name="received"/> bytes into it) and checks it: throws
    /// <see cref="PeerTransferException"/> unless it is <paramref name="expected"/> bytes long, all of them received,
    /// and they match <paramref name="checksum"/>. The caller still owns (and on a throw, releases) the chunk.
    /// </summary>
    public static void Verify(string peerId, ChunkBuffer chunk, int received, int expected, ulong checksum)
    {
        if (chunk.Length != expected) throw new PeerTransferException($"{peerId} sent a chunk of {chunk.Length} bytes, expected {expected}");
        if (received != expected) throw new PeerTransferException($"{peerId} sent {received} of {expected} bytes");
        chunk.Seal();
        if (chunk.Checksum != checksum) throw new PeerTransferException($"{peerId} sent bytes that fail the checksum");
    }
}
