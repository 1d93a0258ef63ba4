using System.Buffers;
using BlobCache.Protocol.Gossip;
using MessagePack;

namespace BlobCache.Protocol.Tests.Gossip;

/// <summary>Hand-built packets, including ones the encoder refuses to produce.</summary>
public sealed class RawPacket
{
    private readonly ArrayBufferWriter<byte> _output = new();

    public RawPacket(byte magic = GossipCodec.Magic, byte version = GossipCodec.FormatVersion) => Raw(magic, version);

    private RawPacket(bool preamble)
    {
        if (preamble) Raw(GossipCodec.Magic, GossipCodec.FormatVersion);
    }

    /// <summary>No preamble: a stream body, whose frame header the caller adds.</summary>
    public static RawPacket Bare() => new(preamble: false);

    public byte[] ToArray() => _output.WrittenSpan.ToArray();

    public RawPacket Raw(params byte[] bytes)
    {
        _output.Write(bytes);
        return this;
    }

    public RawPacket Array(int count) => With((ref MessagePackWriter w) => w.WriteArrayHeader(count));

    public RawPacket Map(int count) => With((ref MessagePackWriter w) => w.WriteMapHeader(count));

    public RawPacket UInt(ulong value) => With((ref MessagePackWriter w) => w.Write(value));

    public RawPacket Int(long value) => With((ref MessagePackWriter w) => w.Write(value));

    public RawPacket Str(string value) => With((ref MessagePackWriter w) => w.Write(value));

    public RawPacket Utf8(byte[] bytes) => With((ref MessagePackWriter w) => w.WriteString(bytes));

    public RawPacket Bool(bool value) => With((ref MessagePackWriter w) => w.Write(value));

    public RawPacket Nil() => With((ref MessagePackWriter w) => w.WriteNil());

    /// <summary>A v1 meta array, optionally with fields a later version appended.</summary>
    public RawPacket Meta(string id, int extraFields = 0, int fields = 8)
    {
        Array(fields + extraFields);
        string[] strings = [id, "host:1", "host:2", "host:3", "region", "zone"];
        foreach (string s in strings.Take(fields)) Str(s);
        if (fields > 6) UInt(100);
        if (fields > 7) UInt(7);
        for (int i = 0; i < extraFields; i++) Str($"future-{i}");
        return this;
    }

    /// <summary>A v1 update: meta (with id <paramref name="metaId"/>) when given, nil otherwise.</summary>
    public RawPacket Update(uint kind, string memberId, string from, string? metaId, int extraFields = 0)
    {
        Array(5 + extraFields).UInt(kind).Str(memberId).UInt(3).Str(from);
        if (metaId is null) Nil();
        else Meta(metaId);
        for (int i = 0; i < extraFields; i++) UInt((ulong)i);
        return this;
    }

    /// <summary>A stream member: id "m", every host and region/zone string <paramref name="host"/> of the table.</summary>
    public RawPacket Member(uint host = 0, uint port = 0, uint state = 1)
    {
        Array(13).Str("m");
        for (int i = 0; i < 3; i++) UInt(host).UInt(port);
        return UInt(host).UInt(host).UInt(100).UInt(1).UInt(1).UInt(state);
    }

    /// <summary>A Gossip message header: [5, source, then the caller writes updates (and extras)].</summary>
    public static RawPacket Gossip(string source = "src", int fields = 3) => new RawPacket().Array(fields).UInt(5).Str(source);

    private delegate void WriteAction(ref MessagePackWriter writer);

    private RawPacket With(WriteAction write)
    {
        var writer = new MessagePackWriter(_output);
        write(ref writer);
        writer.Flush();
        return this;
    }
}
