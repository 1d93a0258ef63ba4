using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace BlobCache.Protocol.Gossip;

// TEMPORARY STUB: replaced by the real codec.
public static class GossipCodec
{
    public const byte Magic = 0xBC;
    public const byte FormatVersion = 1;
    public const int UpdatesArrayHeaderMaxBytes = 5;

    public static int Measure(GossipMessage message) => 64 + message.Updates.Sum(u => MeasureUpdate(u)) + (message is PushPull pp ? pp.Members.Count * 80 : 0);

    public static int MeasureUpdate(in MemberUpdate update) =>
        8 + Encoding.UTF8.GetByteCount(update.MemberId) + Encoding.UTF8.GetByteCount(update.From) + (update.Meta is { } m ? 20 + m.Id.Length + m.GossipAddress.Length + m.GrpcAddress.Length + m.UdpAddress.Length + m.Region.Length + m.Zone.Length : 0);

    public static void Encode(GossipMessage message, IBufferWriter<byte> output) => throw new NotImplementedException();

    public static byte[] Encode(GossipMessage message) => throw new NotImplementedException();

    public static bool TryDecode(ReadOnlyMemory<byte> packet, WireLimits limits, [NotNullWhen(true)] out GossipMessage? message, [NotNullWhen(false)] out string? error)
    {
        message = null;
        error = "stub";
        return false;
    }
}
