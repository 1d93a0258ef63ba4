using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using MessagePack;

namespace BlobCache.Protocol.Gossip;

/// <summary>
/// State transfers (join and anti-entropy push-pulls too big for one datagram) travel over a stream in a compact
/// form of their own: the strings members share are written once, and the whole body is compressed when that pays.
/// </summary>
/// <remarks>
/// Layout, stream format version 1: three raw bytes <c>[0xBD, 0x01, flags]</c>; with flag bit 0 (Brotli) the
/// body's length follows as 4 bytes big-endian, then the compressed body; without it the body itself. The body is
/// one MessagePack array:
/// <code>
/// PushPull  [6, sourceId, sourceAddress, join, isReply, strings, members, updates, digest]
/// strings   [str, ...]    hosts, regions and zones, each once
/// member    [id, gossipHost, gossipPort, grpcHost, grpcPort, udpHost, udpPort, region, zone, weight, version, incarnation, state]
/// </code>
/// Hosts, regions and zones are indexes into <c>strings</c>. An address is its host and port ("10.1.2.3:7946" is
/// host "10.1.2.3", port 7946), so the three addresses of a member share one host string; an address that is not
/// host:port with a canonical port in 1..65535 is its whole self as the host, with port 0. Updates and digest are
/// laid out as in a datagram. As there, a later minor version may append fields to any array, which this reader skips.
/// </remarks>
public static partial class GossipCodec
{
    public const byte StreamMagic = 0xBD;
    public const byte StreamFormatVersion = 1;
    /// <summary>Magic, version, flags.</summary>
    public const int StreamPreambleBytes = 3;
    private const byte StreamCompressed = 1;
    private const int StreamBodyFieldCount = 9;
    private const int StreamMemberFieldCount = 13;
    /// <summary>Bodies smaller than this are not worth compressing.</summary>
    private const int CompressFrom = 512;
    /// <summary>A declared body may be at most this many times its compressed bytes (our state compresses 2–5×; a bomb far more).</summary>
    public const int MaxCompressionRatio = 64;
    // Brotli level 2 with a 4 MiB window: on member lists, the ratio of level 4 (3–7× smaller than plain) at half the CPU.
    private const int BrotliQuality = 2, BrotliWindow = 22;

    /// <summary>
    /// Encodes a state message (a <see cref="PushPull"/>) for a stream, compressed when that saves at least an
    /// eighth. Throws <see cref="ArgumentException"/> for any other kind, or anything a decoder would reject.
    /// </summary>
    public static byte[] EncodeStream(GossipMessage message, bool compress = true)
    {
        Validate(message);
        if (message is not PushPull pp) throw new ArgumentException($"only push-pull state travels by stream, not {message.Kind}", nameof(message));
        var body = new ArrayBufferWriter<byte>(256 + 64 * pp.Members.Count);
        var writer = new MessagePackWriter(body);
        WriteStreamBody(ref writer, pp);
        writer.Flush();
        ReadOnlySpan<byte> plain = body.WrittenSpan;
        if (compress && plain.Length >= CompressFrom)
        {
            byte[] packed = new byte[StreamPreambleBytes + 4 + BrotliEncoder.GetMaxCompressedLength(plain.Length)];
            if (BrotliEncoder.TryCompress(plain, packed.AsSpan(StreamPreambleBytes + 4), out int written, BrotliQuality, BrotliWindow)
                && written <= plain.Length - plain.Length / 8
                && (long)written * MaxCompressionRatio + 1024 >= plain.Length) // what the decoder would refuse as a bomb goes plain
            {
                WriteStreamPreamble(packed, StreamCompressed);
                BinaryPrimitives.WriteUInt32BigEndian(packed.AsSpan(StreamPreambleBytes), (uint)plain.Length);
                return packed[..(StreamPreambleBytes + 4 + written)];
            }
        }
        byte[] frame = new byte[StreamPreambleBytes + plain.Length];
        WriteStreamPreamble(frame, 0);
        plain.CopyTo(frame.AsSpan(StreamPreambleBytes));
        return frame;
    }

    private static void WriteStreamPreamble(Span<byte> frame, byte flags)
    {
        frame[0] = StreamMagic;
        frame[1] = StreamFormatVersion;
        frame[2] = flags;
    }

    private static void WriteStreamBody(ref MessagePackWriter writer, PushPull pp)
    {
        // Intern first, so the table can come before the members that point into it. Hosts are looked up as spans
        // of their addresses: a string is made only for a host not seen before.
        var strings = new List<string>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> byText = index.GetAlternateLookup<ReadOnlySpan<char>>();
        var refs = new (int GossipHost, uint GossipPort, int GrpcHost, uint GrpcPort, int UdpHost, uint UdpPort, int Region, int Zone)[pp.Members.Count];
        int Intern(ReadOnlySpan<char> text)
        {
            if (!byText.TryGetValue(text, out int i))
            {
                i = strings.Count;
                string s = text.ToString();
                strings.Add(s);
                index.Add(s, i);
            }
            return i;
        }
        for (int m = 0; m < refs.Length; m++)
        {
            MemberMeta meta = pp.Members[m].Meta;
            uint gp = SplitAddress(meta.GossipAddress, out ReadOnlySpan<char> gh);
            int gossipHost = Intern(gh);
            uint rp = SplitAddress(meta.GrpcAddress, out ReadOnlySpan<char> rh);
            int grpcHost = Intern(rh);
            uint up = SplitAddress(meta.UdpAddress, out ReadOnlySpan<char> uh);
            refs[m] = (gossipHost, gp, grpcHost, rp, Intern(uh), up, Intern(meta.Region), Intern(meta.Zone));
        }

        writer.WriteArrayHeader(StreamBodyFieldCount);
        writer.Write((uint)MessageKind.PushPull);
        WriteString(ref writer, pp.SourceId);
        WriteString(ref writer, pp.SourceAddress);
        writer.Write(pp.Join);
        writer.Write(pp.IsReply);
        writer.WriteArrayHeader(strings.Count);
        foreach (string s in strings) WriteString(ref writer, s);
        writer.WriteArrayHeader(refs.Length);
        for (int m = 0; m < refs.Length; m++)
        {
            MemberRecord record = pp.Members[m];
            var r = refs[m];
            writer.WriteArrayHeader(StreamMemberFieldCount);
            WriteString(ref writer, record.Meta.Id);
            writer.Write((uint)r.GossipHost);
            writer.Write(r.GossipPort);
            writer.Write((uint)r.GrpcHost);
            writer.Write(r.GrpcPort);
            writer.Write((uint)r.UdpHost);
            writer.Write(r.UdpPort);
            writer.Write((uint)r.Region);
            writer.Write((uint)r.Zone);
            writer.Write(record.Meta.Weight);
            writer.Write(record.Meta.Version);
            writer.Write(record.Incarnation);
            writer.Write((uint)record.State);
        }
        WriteUpdates(ref writer, pp.Updates);
        WriteDigest(ref writer, pp.Digest);
    }

    /// <summary>"host:port" with a canonical port in 1..65535 as its two parts; anything else whole, with port 0.</summary>
    internal static uint SplitAddress(string address, out ReadOnlySpan<char> host)
    {
        host = address;
        int colon = address.LastIndexOf(':');
        if (colon < 0) return 0;
        ReadOnlySpan<char> digits = address.AsSpan(colon + 1);
        if (digits.Length is 0 or > 5 || digits[0] == '0') return 0;
        foreach (char c in digits)
            if (c is < '0' or > '9') return 0;
        uint port = uint.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture);
        if (port > ushort.MaxValue) return 0;
        host = address.AsSpan(0, colon);
        return port;
    }

    internal static string JoinAddress(string host, uint port) =>
        port == 0 ? host : string.Concat(host, ":", port.ToString(CultureInfo.InvariantCulture));
}
