using System.Buffers;
using System.Net;
using BlobCache.Fuzz.Engine;
using BlobCache.Node.Peers;
using BlobCache.Node.Peers.Tcp;
using BlobCache.Protocol.Security;
using BlobCache.Store;

namespace BlobCache.Fuzz.Targets;

/// <summary>
/// Framed-TCP requests through <see cref="TcpFrames.TryReadRequest"/> (in one segment or split in two, as a pipe may
/// hand them over), then the owner's <see cref="PeerRequest.Validate(string, ChunkId, long, int)"/>, then a real
/// owner's side (<see cref="PeerOwner"/>): whatever a request claims, the owner sends and keeps only the origin's
/// bytes. Never throws; a request that decodes re-encodes to exactly the bytes it took. Under TLS the owner reads
/// the same frames from the decrypted stream.
/// </summary>
public sealed class TcpFramesTarget : FuzzTarget
{
    private readonly byte[] _scratch = new byte[TcpFrames.MaxRequestBytes + 64];
    private PeerOwner? _owner;

    private PeerOwner Owner => _owner ??= new PeerOwner();

    public override string Name => "tcp-frames";

    public override byte[] Generate(Random random)
    {
        bool forged = random.Next(3) == 0;
        (ChunkId id, long blobLength) = forged ? PeerOwner.Request(random) : (new ChunkId(UdpFramesTarget.Text(random, 64), UdpFramesTarget.Text(random, 64),
            UdpFramesTarget.Text(random, 1024), UdpFramesTarget.Text(random, 256), random.Next(4) == 0 ? random.NextInt64() : random.Next(64)),
            random.Next(3) == 0 ? long.MaxValue : random.NextInt64(1L << 40));
        string from = UdpFramesTarget.Text(random, 64);
        int n = random.Next(5) == 0
            ? TcpFrames.WriteMetadataRequest(_scratch, random.Next(2) == 0 ? id with { ETag = "", Index = 0 } : id with { Container = "", Blob = "", Index = 1 }, random.Next(2) == 0,
                random.Next(2) == 0, from)
            : TcpFrames.WriteRequest(_scratch, id, blobLength, forged || random.Next(2) == 0, random.Next(2) == 0, from);
        // Sometimes a second request (or part of one) behind the first: only the first may be taken.
        int extra = random.Next(4) == 0 ? random.Next(64) : 0;
        random.NextBytes(_scratch.AsSpan(n, extra));
        return _scratch[..(n + extra)];
    }

    public override object Prepare(byte[] input)
    {
        // Split at a point picked from the bytes themselves, so a replayed input splits the same way.
        int cut = input.Length < 2 ? 0 : (input[^1] * 31 + input.Length) % input.Length;
        return Segments.Of(input, cut);
    }

    public override object? Run(object prepared)
    {
        var buffer = (ReadOnlySequence<byte>)prepared;
        ReadOnlySequence<byte> rest = buffer;
        if (!TcpFrames.TryReadRequest(ref rest, out TcpFetch? fetch, out _)) return null;
        PeerAnswer? answer = null;
        if (!fetch!.Metadata && PeerRequest.Validate(PeerOwner.Account, fetch.Id, fetch.BlobLength, PeerOwner.ChunkSize) is null)
        {
            _ = fetch.Id.Hash;
            answer = Owner.Serve(fetch.Id, fetch.BlobLength, fetch.Fill);
        }
        return (fetch, buffer.Length - rest.Length, answer);
    }

    public override void Check(byte[] input, object? result)
    {
        if (result is not (TcpFetch f, long taken, var answer)) return;
        if (answer is PeerAnswer a && Owner.Check(a) is { } wrong) throw Violated($"a request for {f.Id} claiming {f.BlobLength} bytes: the owner {wrong}");
        if (f.Metadata && (f.Fill || f.WarmOnly || f.BlobLength != 0 || f.Id.Index is not (TcpFrames.MetadataOfBlob or TcpFrames.MetadataPassThrough)))
            throw Violated("a metadata request that names a chunk was accepted");
        if (f.Content && (!f.Metadata || f.Id.Index != TcpFrames.MetadataOfBlob)) throw Violated("a request for bytes with anything but a blob's properties was accepted");
        int n = f.Metadata ? TcpFrames.WriteMetadataRequest(_scratch, f.Id, f.Direct, f.Content, f.From) : TcpFrames.WriteRequest(_scratch, f.Id, f.BlobLength, f.Fill, f.WarmOnly, f.From);
        if (n != taken || !_scratch.AsSpan(0, n).SequenceEqual(input.AsSpan(0, n)))
            throw Violated($"a request decoded from {taken} bytes re-encodes to {n} different ones");
    }

    public override IReadOnlyList<byte[]> Dictionary =>
        [[0, 0], [0xFF, 0xFF], [0, 0x40, 0, 0], [0xFF, 0xFF, 0xFF, 0xFF], [1], [2], [3], [4], [12], [16], [20], [28], [0xC0, 0x80], [0xED, 0xA0, 0x80]];

    public override int MaxInputBytes => TcpFrames.MaxRequestBytes + 128;
}

/// <summary>
/// UDP connection credentials through <see cref="ConnectToken.Check"/> and the replay guard, under a fixed ring and
/// clock. Never throws; a token accepted as Ok is byte for byte the one <see cref="ConnectToken.Write"/> makes for
/// the id and time it claims (no other bytes carry a valid signature), and it is no good for another address.
/// </summary>
public sealed class ConnectTokenTarget : FuzzTarget
{
    private const string Target = "10.1.2.3:7482";
    private const long Now = 1_790_000_000_000;
    private static readonly Keyring Ring = Keyring.Create([Enumerable.Repeat((byte)7, 32).ToArray(), Enumerable.Repeat((byte)9, 32).ToArray()]);
    private static readonly Keyring Other = Keyring.Create([Enumerable.Repeat((byte)8, 32).ToArray()]);
    private static readonly IPEndPoint From = new(IPAddress.Loopback, 40000);
    private readonly byte[] _scratch = new byte[ConnectToken.MaxBytes];
    // Small, so its table stays small: the guard's growth is state, not the cost of one input.
    private ConnectReplayGuard _guard = new(capacity: 256);

    public override string Name => "connect-token";

    public override byte[] Generate(Random random)
    {
        long skew = (long)ConnectToken.MaxSkew.TotalMilliseconds;
        long at = random.Next(4) switch { 0 => Now - skew, 1 => Now + skew + 1, 2 => random.NextInt64(), _ => Now + random.Next(-1000, 1000) };
        string id = UdpFramesTarget.Text(random, 255) is { Length: > 0 } t ? t : "n";
        if (System.Text.Encoding.UTF8.GetByteCount(id) > 255) id = "node";
        int n = ConnectToken.Write(random.Next(5) == 0 ? Other : Ring, id, random.Next(6) == 0 ? "10.1.2.3:7483" : Target, at, _scratch);
        return _scratch[..n];
    }

    public override object? Run(object prepared)
    {
        byte[] input = (byte[])prepared;
        ConnectCheck check = ConnectToken.Check(Ring, input, Target, Now, out string? id);
        if (check != ConnectCheck.Ok) return null;
        _guard.TryAdmit(input, From, Now);
        return id;
    }

    public override void Check(byte[] input, object? result)
    {
        if (result is not string id) return;
        int n = ConnectToken.Write(Ring, id, Target, ConnectToken.IssuedAt(input), _scratch);
        // The ring signs with its primary; a token under the second key is valid too, so compare the signed part.
        if (n != input.Length || !_scratch.AsSpan(5, n - 5 - ConnectToken.MacBytes).SequenceEqual(input.AsSpan(5, n - 5 - ConnectToken.MacBytes)))
            throw Violated("an accepted token is not what Write makes for its id and time");
        if (ConnectToken.Check(Ring, input, "10.1.2.3:7483", Now, out _) == ConnectCheck.Ok)
            throw Violated("a token for one address was accepted at another");
    }

    public override void Reset() => _guard = new ConnectReplayGuard(capacity: 256);

    public override IReadOnlyList<byte[]> Dictionary => [[ConnectToken.Version], [0], [0xFF], [0x7F, 0xFF, 0xFF, 0xFF]];

    public override int MaxInputBytes => ConnectToken.MaxBytes + 16;
}

/// <summary>
/// Sealed gossip datagrams through <see cref="GossipSeal.Open"/> under a two-key ring. Never throws; an opened
/// packet yields exactly its length minus the overhead, under a key of the ring; altered bytes never open.
/// </summary>
public sealed class GossipOpenTarget : FuzzTarget
{
    private static readonly Keyring Ring = Keyring.Create([Enumerable.Repeat((byte)3, 32).ToArray(), Enumerable.Repeat((byte)4, 32).ToArray()]);
    private static readonly Keyring Stranger = Keyring.Create([Enumerable.Repeat((byte)5, 32).ToArray()]);
    private readonly byte[] _packet = new byte[1400];
    // As GossipHost sizes it: room for the plaintext of any datagram the socket can hand over.
    private readonly byte[] _plain = new byte[2048];

    public override string Name => "gossip-open";

    public override byte[] Generate(Random random)
    {
        int length = random.Next(3) == 0 ? 0 : random.Next(_packet.Length - GossipSeal.Overhead);
        random.NextBytes(_plain.AsSpan(0, length));
        int n = GossipSeal.Seal(random.Next(5) == 0 ? Stranger : Ring, _plain.AsSpan(0, length), _packet);
        return _packet[..n];
    }

    public override object? Run(object prepared)
    {
        byte[] input = (byte[])prepared;
        OpenStatus status = GossipSeal.Open(Ring, input, _plain, out int written, out KeyEntry? key);
        return status == OpenStatus.Ok ? (written, key) : null;
    }

    public override void Check(byte[] input, object? result)
    {
        if (result is not (int written, KeyEntry key)) return;
        if (written != input.Length - GossipSeal.Overhead) throw Violated($"opened {written} bytes from a {input.Length}-byte packet");
        if (!Ring.Keys.Contains(key)) throw Violated("opened under a key outside the ring");
    }

    public override IReadOnlyList<byte[]> Dictionary => [[0xBE], [1], [2], [0], [0xFF]];

    public override int MaxInputBytes => 1500;
}

/// <summary>A byte array as a sequence of two segments (one when <c>cut</c> is 0), like a pipe's buffer.</summary>
internal sealed class Segments : ReadOnlySequenceSegment<byte>
{
    private Segments(ReadOnlyMemory<byte> memory, long start)
    {
        Memory = memory;
        RunningIndex = start;
    }

    public static ReadOnlySequence<byte> Of(byte[] bytes, int cut)
    {
        if (cut <= 0 || cut >= bytes.Length) return new ReadOnlySequence<byte>(bytes);
        var first = new Segments(bytes.AsMemory(0, cut), 0);
        var second = new Segments(bytes.AsMemory(cut), cut);
        first.Next = second;
        return new ReadOnlySequence<byte>(first, 0, second, second.Memory.Length);
    }
}
