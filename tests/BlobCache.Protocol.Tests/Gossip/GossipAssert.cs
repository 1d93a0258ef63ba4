using BlobCache.Protocol.Gossip;

namespace BlobCache.Protocol.Tests.Gossip;

/// <summary>Field-by-field equality of messages (the message classes compare by reference).</summary>
public static class GossipAssert
{
    public static void Equivalent(GossipMessage expected, GossipMessage actual)
    {
        Assert.Equal(expected.GetType(), actual.GetType());
        Assert.Equal(expected.Kind, actual.Kind);
        Assert.Equal(expected.SourceId, actual.SourceId);
        Assert.Equal(expected.Updates.Select(Normalized), actual.Updates);
        switch (expected)
        {
            case Ping e:
                var p = (Ping)actual;
                Assert.Equal((e.Seq, e.TargetId, e.SourceAddress), (p.Seq, p.TargetId, p.SourceAddress));
                break;
            case IndirectPing e:
                var ip = (IndirectPing)actual;
                Assert.Equal((e.Seq, e.TargetId, e.TargetAddress, e.SourceAddress, e.WantNack), (ip.Seq, ip.TargetId, ip.TargetAddress, ip.SourceAddress, ip.WantNack));
                break;
            case Ack e:
                Assert.Equal(e.Seq, ((Ack)actual).Seq);
                break;
            case Nack e:
                Assert.Equal(e.Seq, ((Nack)actual).Seq);
                break;
            case PushPull e:
                var pp = (PushPull)actual;
                Assert.Equal((e.SourceAddress, e.Join, e.IsReply), (pp.SourceAddress, pp.Join, pp.IsReply));
                Assert.Equal(e.Members, pp.Members);
                Assert.Equal(e.Digest, pp.Digest);
                break;
        }
    }

    /// <summary>Suspect and Dead updates travel without meta, so they decode with Meta = null.</summary>
    public static MemberUpdate Normalized(MemberUpdate update) => update.Kind == UpdateKind.Alive ? update : update with { Meta = null };
}
