using System.Buffers;
using BlobCache.Node.Peers;
using BlobCache.Node.Peers.Grpc;
using BlobCache.Store;
using Google.Protobuf;

namespace BlobCache.Node.Tests.Unit;

public sealed class ChunkPieceWireTests
{
    private static byte[] Data(int length, int seed)
    {
        byte[] b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static ChunkPieceView Read(ReadOnlySequence<byte> message)
    {
        Assert.Null(ChunkPieceWire.TryRead(message, out ChunkPieceView piece));
        return piece;
    }

    [Fact]
    public void A_piece_protobuf_wrote_reads_back_the_same_wherever_the_message_is_split()
    {
        byte[] data = Data(300, 1);
        byte[] message = new ChunkPiece { Length = 4 << 20, Checksum = 0xfeedface_cafebeef, Source = "mémoire", Data = ByteString.CopyFrom(data) }.ToByteArray();
        for (int at = 0; at <= message.Length; at++)
        {
            ChunkPieceView piece = Read(Segment.Split(message, at));
            Assert.Equal(4 << 20, piece.Length);
            Assert.Equal(0xfeedface_cafebeefUL, piece.Checksum);
            Assert.Equal("mémoire", piece.Source);
            Assert.Equal(data, piece.Data.ToArray());
        }
    }

    [Fact]
    public void Fields_a_newer_owner_might_add_are_skipped_and_the_last_copy_of_a_field_wins()
    {
        var w = new MemoryStream();
        using (var o = new CodedOutputStream(w, leaveOpen: true))
        {
            o.WriteTag(4, WireFormat.WireType.LengthDelimited);
            o.WriteBytes(ByteString.CopyFromUtf8("old"));
            o.WriteTag(9, WireFormat.WireType.Varint);
            o.WriteInt64(long.MinValue);
            o.WriteTag(10, WireFormat.WireType.LengthDelimited);
            o.WriteBytes(ByteString.CopyFrom(Data(70, 2)));
            o.WriteTag(11, WireFormat.WireType.Fixed32);
            o.WriteFixed32(7);
            o.WriteTag(12, WireFormat.WireType.Fixed64);
            o.WriteFixed64(8);
            o.WriteTag(1, WireFormat.WireType.Varint);
            o.WriteInt64(5);
            o.WriteTag(4, WireFormat.WireType.LengthDelimited);
            o.WriteBytes(ByteString.CopyFromUtf8("new"));
        }
        byte[] message = w.ToArray();
        ChunkPiece expected = ChunkPiece.Parser.ParseFrom(message);
        ChunkPieceView piece = Read(new ReadOnlySequence<byte>(message));
        Assert.Equal(expected.Length, piece.Length);
        Assert.Equal(5, piece.Length);
        Assert.Equal("new"u8.ToArray(), piece.Data.ToArray());
        Assert.Equal(expected.Data.ToByteArray(), piece.Data.ToArray());
    }

    [Fact]
    public void Every_truncation_protobuf_refuses_is_refused_with_a_reason()
    {
        byte[] message = new ChunkPiece { Length = 1 << 20, Checksum = 42, Source = "disk", Data = ByteString.CopyFrom(Data(50, 3)) }.ToByteArray();
        int refused = 0;
        for (int cut = 1; cut < message.Length; cut++)
        {
            byte[] prefix = message[..cut];
            bool protobufRefuses;
            try
            {
                ChunkPiece.Parser.ParseFrom(prefix);
                protobufRefuses = false;
            }
            catch (InvalidProtocolBufferException)
            {
                protobufRefuses = true;
            }
            if (!protobufRefuses) continue;
            refused++;
            Assert.NotNull(ChunkPieceWire.TryRead(new ReadOnlySequence<byte>(prefix), out _));
        }
        Assert.True(refused > message.Length / 2, $"only {refused} of {message.Length - 1} cuts were refused by protobuf");
    }

    [Fact]
    public void Groups_field_zero_and_a_negative_length_are_refused()
    {
        Assert.Contains("wire type 3", ChunkPieceWire.TryRead(new ReadOnlySequence<byte>([0x2B, 0x2C]), out _)); // group 5 start/end
        Assert.Equal("field number 0", ChunkPieceWire.TryRead(new ReadOnlySequence<byte>([0x02, 0x00]), out _));
        Assert.NotNull(ChunkPieceWire.TryRead(new ReadOnlySequence<byte>([0x22, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00]), out _)); // data of -1 bytes
    }

    [Fact]
    public void A_sink_assembles_a_chunk_and_names_what_a_peer_did_wrong()
    {
        byte[] data = Data(100_000, 4);
        ulong checksum = Checksum(data);
        byte[] header = new ChunkPiece { Length = data.Length, Checksum = checksum, Source = "memory" }.ToByteArray();
        byte[] Piece(int from, int to) => new ChunkPiece { Data = ByteString.CopyFrom(data.AsSpan(from, to - from)) }.ToByteArray();

        var good = new PieceSink("peer-1", warmOnly: false, data.Length);
        foreach (byte[] m in new[] { header, Piece(0, 65_536), Piece(65_536, data.Length) }) good.Accept(new ReadOnlySequence<byte>(m));
        Assert.Null(good.Error);
        Assert.Equal("memory", good.Source);
        ChunkBuffer chunk = good.TakeChunk();
        Assert.Equal(data, chunk.Memory.ToArray());
        chunk.Release();

        var tooMuch = new PieceSink("peer-1", warmOnly: false, data.Length);
        foreach (byte[] m in new[] { header, Piece(0, data.Length), Piece(0, 1) }) tooMuch.Accept(new ReadOnlySequence<byte>(m));
        Assert.Equal($"peer-1 sent more than the {data.Length} bytes it announced", tooMuch.Error);
        tooMuch.Release();

        // Any length but the one this node expects is refused before a buffer is taken: bigger, or smaller (a
        // truncated chunk whose checksum matches its own bytes).
        foreach (long announced in new[] { PeerLimits.MaxChunkBytes + 1L, data.Length + 1L, 1L })
        {
            var wrong = new PieceSink("peer-1", warmOnly: false, data.Length);
            wrong.Accept(new ReadOnlySequence<byte>(new ChunkPiece { Length = announced, Checksum = checksum }.ToByteArray()));
            Assert.Equal($"peer-1 announced a chunk of {announced} bytes, expected {data.Length}", wrong.Error);
        }

        var shortOne = new PieceSink("peer-1", warmOnly: false, data.Length);
        foreach (byte[] m in new[] { header, Piece(0, 10) }) shortOne.Accept(new ReadOnlySequence<byte>(m));
        Assert.Equal($"peer-1 sent 10 of {data.Length} bytes", Assert.Throws<PeerTransferException>(shortOne.TakeChunk).Message);
        shortOne.Release();

        var corrupt = new PieceSink("peer-1", warmOnly: false, data.Length);
        byte[] flipped = (byte[])data.Clone();
        flipped[77_777] ^= 1;
        corrupt.Accept(new ReadOnlySequence<byte>(header));
        corrupt.Accept(new ReadOnlySequence<byte>(new ChunkPiece { Data = ByteString.CopyFrom(flipped) }.ToByteArray()));
        Assert.Equal("peer-1 sent bytes that fail the checksum", Assert.Throws<PeerTransferException>(corrupt.TakeChunk).Message);
        corrupt.Release();

        var malformed = new PieceSink("peer-1", warmOnly: false, data.Length);
        malformed.Accept(new ReadOnlySequence<byte>([0x0B]));
        Assert.StartsWith("peer-1 sent a malformed piece: ", malformed.Error);
    }

    private static ulong Checksum(byte[] data)
    {
        ChunkBuffer c = ChunkBuffer.Rent(data.Length);
        data.CopyTo(c.Writable);
        c.Seal();
        ulong sum = c.Checksum;
        c.Release();
        return sum;
    }
}
