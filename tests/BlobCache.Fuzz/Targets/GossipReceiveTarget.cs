using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using BlobCache.Fuzz.Engine;
using BlobCache.Mesh;
using BlobCache.Mesh.Membership;
using BlobCache.Node.Gossip;
using BlobCache.Protocol.Gossip;

namespace BlobCache.Fuzz.Targets;

/// <summary>
/// The node's whole gossip receive path: bytes → <see cref="GossipCodec.TryDecode"/> → <see cref="SwimNode.Receive"/>
/// (and <see cref="SwimNode.Tick"/> as the clock moves) → what the host does with the outbox: parse each address
/// (<see cref="GossipHost.ParseAddress"/>) and encode each message by the channel the mesh chose. A decoded but
/// absurd message must not break the state machine: nothing throws, the node stays alive in its own view, its
/// incarnation never goes back, every datagram fits the budget and every stream is state, each encodes and
/// decodes, nothing is refused as oversize, and every address is one the host's IPv4 socket can send to (or none).
/// The node lives for <see cref="InputsPerNode"/> inputs, so state built by one input meets the next.
/// </summary>
public sealed class GossipReceiveTarget : FuzzTarget
{
    public const int InputsPerNode = 16;
    private static readonly MemberMeta SelfMeta = new("self", "127.0.0.1:7946", "127.0.0.1:7481", "127.0.0.1:7482", "r1", "z1", 100, 1);
    private readonly ArrayBufferWriter<byte> _encoded = new(4096);
    private readonly List<byte[]> _history = [];
    private SwimNode? _node;
    private long _now;
    private uint _incarnation;

    public override string Name => "gossip-receive";

    public override byte[] Generate(Random random) => GossipCodec.Encode(GossipInputs.Message(random));

    public override void Reset()
    {
        _node = null;
        _history.Clear();
    }

    public override string? History => _history.Count == 0 ? null : string.Join(" ", _history.Select(Finding.Hex));

    public override object? Run(object prepared)
    {
        byte[] input = (byte[])prepared;
        if (_node is null || _history.Count >= InputsPerNode) NewNode(input.Length);
        SwimNode node = _node!;
        _history.Add(input);
        // The clock moves by an amount the input decides, so timers (probes, suspicions, push-pull) fire too.
        _now += 1 + (input.Length * 7919L % 3_000_000);
        if (GossipCodec.TryDecode(input, WireLimits.Default, out GossipMessage? message, out _)) node.Receive(_now, message);
        if (node.NextDue <= _now) node.Tick(_now);
        return message;
    }

    private void NewNode(int salt)
    {
        _history.Clear();
        var directory = new MemberDirectory();
        _node = new SwimNode(MeshConfig.Default, SelfMeta, directory, (ulong)salt);
        _now = 1_000_000;
        _node.Start(_now, (salt & 1) == 0 ? [] : ["127.0.0.1:7001"]);
        _incarnation = _node.Incarnation;
        _node.Outbox.Clear();
        _node.Events.Clear();
    }

    public override void Check(byte[] input, object? result)
    {
        SwimNode node = _node!;
        try
        {
            if (!node.Leaving && node.StateOf(node.Self) != MemberState.Alive)
                throw Violated($"the node is {node.StateOf(node.Self)} in its own view");
            if (node.Incarnation < _incarnation)
                throw Violated($"the node's incarnation went back from {_incarnation} to {node.Incarnation}");
            _incarnation = node.Incarnation;
            foreach (Outbound o in node.Outbox)
            {
                CheckAddress(o.ToAddress);
                switch (o.Channel)
                {
                    case GossipChannel.Oversize:
                        throw Violated($"the node made a {o.Message.Kind} of {o.Bytes} bytes, over its datagram budget");
                    case GossipChannel.Stream:
                        if (o.Message is not PushPull) throw Violated($"the node streams a {o.Message.Kind}, which is not state");
                        if (!GossipCodec.TryDecodeStream(GossipCodec.EncodeStream(o.Message), WireLimits.Default, out _, out string? streamError))
                            throw Violated($"the node streamed state its peers cannot decode: {streamError}");
                        break;
                    default:
                        _encoded.ResetWrittenCount();
                        GossipCodec.Encode(o.Message, _encoded);
                        if (_encoded.WrittenCount != o.Bytes || o.Bytes > MeshConfig.Default.MaxPacketBytes)
                            throw Violated($"the node sized a {o.Message.Kind} datagram at {o.Bytes} bytes, the codec wrote {_encoded.WrittenCount} (budget {MeshConfig.Default.MaxPacketBytes})");
                        if (!GossipCodec.TryDecode(_encoded.WrittenMemory, WireLimits.Default, out _, out string? error))
                            throw Violated($"the node sent a {o.Message.Kind} its peers cannot decode: {error}");
                        break;
                }
            }
        }
        finally
        {
            node.Outbox.Clear();
            node.Events.Clear();
        }
    }

    /// <summary>What <see cref="GossipHost"/> does with an outbound address before its socket sends to it.</summary>
    private static void CheckAddress(string address)
    {
        IPEndPoint? endpoint = GossipHost.ParseAddress(address, out string? dnsName, out int port);
        if (endpoint is not null && endpoint.AddressFamily != AddressFamily.InterNetwork)
            throw Violated($"address '{address}' gives a {endpoint.AddressFamily} endpoint, which the host's IPv4 socket refuses with an exception");
        if (endpoint is not null && endpoint.Port == 0)
            throw Violated($"address '{address}' gives port 0");
        if (dnsName is not null && (port is < 1 or > 65535 || Encoding.UTF8.GetByteCount(dnsName) > 253 || Uri.CheckHostName(dnsName) != UriHostNameType.Dns))
            throw Violated($"address '{address}' would be looked up in DNS as '{dnsName}' port {port}, which the resolver or IPEndPoint refuses with an exception");
    }

    // The reply to a push-pull carries the whole view, and a tick may send one: allocation follows the state the
    // earlier inputs built (at most 16 inputs of members), not just this input.
    public override long AllocationBound(int inputBytes) => 64L * inputBytes + 1024 * 1024;

    public override IReadOnlyList<byte[]> Dictionary => GossipInputs.MessagePackTokens;

    public override int MaxInputBytes => 64 * 1024;
}
