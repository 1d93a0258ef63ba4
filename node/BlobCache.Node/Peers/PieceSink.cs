using System.Buffers;
using BlobCache.Store;

namespace BlobCache.Node.Peers;

/// <summary>
/// One gRPC fetch's chunk, assembled while its pieces are deserialized: the first piece must announce the length
/// this node expects (<see cref="ReceivedChunk"/>), which rents the chunk, and each piece's data is copied into it
/// straight from the received message. A problem is kept in <see cref="Error"/> for the fetch to report, so it
/// reads as what the peer did wrong rather than as a gRPC deserialization failure.
/// </summary>
internal sealed class PieceSink(string peerId, bool warmOnly, int expectedLength)
{
    private ChunkBuffer? _chunk;
    private int _filled;
    private ulong _checksum;
    private bool _answered;

    /// <summary>What the peer did wrong, once it has (later pieces are then ignored).</summary>
    public string? Error { get; private set; }

    /// <summary>Where the owner had the chunk (the first piece's source).</summary>
    public string Source { get; private set; } = "";

    public void Accept(ReadOnlySequence<byte> message)
    {
        if (Error is not null) return;
        if (ChunkPieceWire.TryRead(message, out ChunkPieceView piece) is { } malformed)
        {
            Error = $"{peerId} sent a malformed piece: {malformed}";
            return;
        }
        if (!_answered)
        {
            _answered = true;
            Source = piece.Source;
            Error = ReceivedChunk.CheckAnnounced(peerId, piece.Length, expectedLength);
            if (Error is not null || warmOnly) return;
            _chunk = ChunkBuffer.Rent(expectedLength);
            _checksum = piece.Checksum;
        }
        if (_chunk is null) return; // a warm-up's answer is its first piece
        if (piece.Data.Length > _chunk.Length - _filled)
        {
            Error = $"{peerId} sent more than the {_chunk.Length} bytes it announced";
            return;
        }
        piece.Data.CopyTo(_chunk.Writable[_filled..]);
        _filled += (int)piece.Data.Length;
    }

    /// <summary>The whole chunk, checked (<see cref="ReceivedChunk.Verify"/>); the caller owns it.</summary>
    public ChunkBuffer TakeChunk()
    {
        ChunkBuffer chunk = _chunk ?? throw new PeerTransferException($"{peerId} sent an empty stream");
        ReceivedChunk.Verify(peerId, chunk, _filled, expectedLength, _checksum);
        _chunk = null;
        return chunk;
    }

    /// <summary>Returns a chunk nobody took (a failed or abandoned fetch).</summary>
    public void Release()
    {
        _chunk?.Release();
        _chunk = null;
    }
}
