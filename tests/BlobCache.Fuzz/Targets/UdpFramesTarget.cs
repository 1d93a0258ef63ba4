using BlobCache.Fuzz.Engine;
using BlobCache.Node.Peers;
using BlobCache.Node.Peers.Udp;
using BlobCache.Protocol.Tests.Gossip;
using BlobCache.Store;

namespace BlobCache.Fuzz.Targets;

/// <summary>
/// UDP chunk frames through <see cref="UdpFrames.TryDecode"/>, then what the owner does with a Fetch (the chunk id,
/// <see cref="PeerRequest.Validate(string, ChunkId, long, int)"/>, then a real owner's side, <see cref="PeerOwner"/>,
/// which sends and keeps only the origin's bytes whatever a request claims). Never throws; whatever decodes
/// re-encodes to the same bytes (the format is canonical, so garbage can never decode into something else). This
/// replaces the 200,000-mutation test that lived beside the frame tests: same property, structure-aware inputs,
/// more of them. With a keyring only the connection is authenticated: the owner decodes the same frames.
/// </summary>
public sealed class UdpFramesTarget : FuzzTarget
{
    private readonly byte[] _scratch = new byte[UdpFrames.MaxFrameBytes + 64];
    private PeerOwner? _owner;

    private PeerOwner Owner => _owner ??= new PeerOwner();

    public override string Name => "udp-frames";

    public override byte[] Generate(Random random)
    {
        uint id = random.Next(4) == 0 ? uint.MaxValue : (uint)random.Next();
        int n = random.Next(8) switch
        {
            7 => Forged(random, id),
            0 or 1 => UdpFrames.WriteFetch(_scratch, id, new UdpFetch(
                Text(random, UdpFrames.MaxAccountBytes), Text(random, UdpFrames.MaxContainerBytes), Text(random, UdpFrames.MaxBlobBytes),
                Text(random, UdpFrames.MaxETagBytes), Long(random), Long(random) is var l && l > 0 ? l : 1, random.Next(2) == 0, random.Next(2) == 0,
                Text(random, UdpFrames.MaxFromBytes))),
            2 => random.Next(2) == 0 ? UdpFrames.WriteAccepted(_scratch, id) : UdpFrames.WriteCancel(_scratch, id),
            3 => UdpFrames.WriteOk(_scratch, id, random.Next(3) == 0 ? UdpFrames.MaxChunkBytes : 1 + random.Next(4 << 20), (ulong)random.NextInt64(), (byte)random.Next(3)),
            4 => random.Next(4) switch
            {
                0 => UdpFrames.WriteNotFound(_scratch, id),
                1 => UdpFrames.WriteBusy(_scratch, id, Holders(random)),
                2 => UdpFrames.WriteError(_scratch, id, Text(random, 2 * UdpFrames.MaxMessageBytes), UdpAnswerStatus.BlobChanged),
                _ => UdpFrames.WriteError(_scratch, id, Text(random, 2 * UdpFrames.MaxMessageBytes)),
            },
            _ => Piece(random, id),
        };
        return _scratch[..n];
    }

    /// <summary>Up to four holder ids at their byte caps or short.</summary>
    public static PeerHolders Holders(Random random)
    {
        var holders = new PeerHolders();
        int count = random.Next(PeerHolders.MaxIds + 1);
        for (int i = 0; i < count; i++) holders.TryAdd(Text(random, PeerHolders.MaxIdBytes));
        return holders;
    }

    // A Fetch for a blob the owner has, often claiming a length it does not have.
    private int Forged(Random random, uint requestId)
    {
        (ChunkId id, long length) = PeerOwner.Request(random);
        return UdpFrames.WriteFetch(_scratch, requestId, new UdpFetch(id.Account, id.Container, id.Blob, id.ETag, id.Index, length, random.Next(4) != 0, random.Next(4) == 0, "forger"));
    }

    private int Piece(Random random, uint id)
    {
        int offset = random.Next(4) switch { 0 => 0, 1 => UdpFrames.MaxChunkBytes - 1, _ => random.Next(64) * UdpFrames.PieceBytes };
        // Mostly small: a 256 KiB piece is no harder to decode than a 60-byte one, only slower to make and mutate.
        int length = random.Next(64) == 0 ? UdpFrames.MaxPieceBytes : 1 + random.Next(random.Next(16) == 0 ? UdpFrames.PieceBytes : 64);
        int h = UdpFrames.WritePieceHeader(_scratch, id, offset);
        random.NextBytes(_scratch.AsSpan(h, length));
        return h + length;
    }

    private static long Long(Random random) => random.Next(5) switch
    {
        0 => 0,
        1 => long.MaxValue,
        2 => random.Next(100),
        _ => random.NextInt64(1L << 40),
    };

    /// <summary>A string of at most <paramref name="capBytes"/> UTF-8 bytes: empty, at the cap, unicode, or short.</summary>
    public static string Text(Random random, int capBytes)
    {
        int bytes = random.Next(6) switch { 0 => 0, 1 => capBytes, 2 => capBytes - 1, 3 => random.Next(capBytes + 1), _ => random.Next(24) };
        // The protocol tests' generator, with a few one-byte characters swapped for ones paths and names treat specially.
        return new GossipTestData(random.Next()).StringOfBytes(bytes).Replace('a', '/').Replace('7', '%').Replace(':', '"').Replace('Z', ' ');
    }

    public override object? Run(object prepared)
    {
        byte[] input = (byte[])prepared;
        if (!UdpFrames.TryDecode(input, out UdpFrame frame, out _)) return null;
        PeerAnswer? answer = null;
        if (frame.Fetch is { } fetch)
        {
            // What UdpChunkServer.OnFetch does before anything else, then what its ServeAsync does.
            var id = new ChunkId(fetch.Account, fetch.Container, fetch.Blob, fetch.ETag, fetch.Index);
            if (PeerRequest.Validate(PeerOwner.Account, id, fetch.BlobLength, PeerOwner.ChunkSize) is null)
            {
                _ = id.Hash;
                answer = Owner.Serve(id, fetch.BlobLength, fetch.Fill);
            }
        }
        return (input, answer); // the frame is a ref struct: Check decodes again
    }

    public override void Check(byte[] input, object? result)
    {
        if (result is not (byte[], var answer)) return;
        if (answer is PeerAnswer a && Owner.Check(a) is { } wrong) throw Violated($"a Fetch for {a.Id}: the owner {wrong}");
        if (!UdpFrames.TryDecode(input, out UdpFrame f, out string? error)) throw Violated($"decoded once, refused the second time: {error}");
        int n = f.Kind switch
        {
            UdpFrameKind.Fetch => UdpFrames.WriteFetch(_scratch, f.RequestId, f.Fetch!),
            UdpFrameKind.Accepted => UdpFrames.WriteAccepted(_scratch, f.RequestId),
            UdpFrameKind.Cancel => UdpFrames.WriteCancel(_scratch, f.RequestId),
            UdpFrameKind.Answer => f.Status switch
            {
                UdpAnswerStatus.Ok => UdpFrames.WriteOk(_scratch, f.RequestId, f.Length, f.Checksum, UdpFrames.SourceCode(f.Source!)),
                UdpAnswerStatus.NotFound => UdpFrames.WriteNotFound(_scratch, f.RequestId),
                UdpAnswerStatus.Busy => UdpFrames.WriteBusy(_scratch, f.RequestId, f.Holders),
                _ => UdpFrames.WriteError(_scratch, f.RequestId, f.Message!, f.Status),
            },
            _ => CopyPiece(f),
        };
        if (!_scratch.AsSpan(0, n).SequenceEqual(input)) throw Violated($"a {f.Kind} frame decoded but does not re-encode to its bytes");
    }

    private int CopyPiece(UdpFrame f)
    {
        int h = UdpFrames.WritePieceHeader(_scratch, f.RequestId, f.Offset);
        f.Data.CopyTo(_scratch.AsSpan(h));
        return h + f.Data.Length;
    }

    public override IReadOnlyList<byte[]> Dictionary =>
    [
        [UdpFrames.Version], [1], [2], [3], [4], [5], [0xFF], [0, 0], [0xFF, 0xFF], [0x00, 0x10], [0x01, 0x10],
        [0xFF, 0xFF, 0xFF, 0x7F], [0, 0, 0, 0x80], [0xFF, 0xFF, 0xFF, 0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
    ];

    public override int MaxInputBytes => UdpFrames.MaxFrameBytes + 16;
}
