using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

// Joining through seeds: a seed answers a big mesh's joiner with a sample, and the joiner pulls the view from
// one of the members it names.
public sealed partial class SwimNode
{
    private string[] _seeds = [];
    private int _joinAttempts, _joinedVia = -1;
    private int _unansweredJoins; // join requests sent so far: a node sends them only until a seed answers
    private bool _bootstrapping; // joined through seeds and not yet holding a view pulled from the mesh

    /// <summary>
    /// Asks one seed to let us in, the next one on each retry from a random first: a fleet starting at once then
    /// spreads over its seeds instead of asking every seed for the same view.
    /// </summary>
    private void SendJoin(long now)
    {
        if (_joinAttempts++ == 0 && _seeds.Length > 1) _joinAttempts += _random.Next(_seeds.Length);
        Send(-1, _seeds[(_joinAttempts - 1) % _seeds.Length], MakeRequest(join: true));
        Schedule(now + JoinRetryGap(_unansweredJoins++), SwimTimerKind.JoinRetry);
    }

    /// <summary>
    /// How long to wait for a seed's answer after <paramref name="unanswered"/> earlier requests went unanswered: a
    /// gossip interval at first, doubling up to the join retry interval. Pods of a fleet start together, seeds among
    /// them, so a joiner's first request often reaches a seed that is not listening yet; a fixed 2 s retry made the
    /// whole fleet wait for it. One datagram per retry, and a seed answers at once, so the early retries cost little.
    /// </summary>
    private long JoinRetryGap(int unanswered) => Math.Min(_joinRetryInterval, _gossipInterval << Math.Min(unanswered, 20));

    private void OnJoinRetry(long now)
    {
        if (_leaving) return;
        if (_joined)
        {
            // In by a sample, and no view yet: the member asked for it may be gone. Ask another, until one answers.
            if (!_bootstrapping) return;
            PushPullWithRandomMember();
            Schedule(now + _joinRetryInterval, SwimTimerKind.JoinRetry);
            return;
        }
        Events.Add(new MemberEvent(now, MemberEventKind.JoinRetry, Self, _incarnation));
        SendJoin(now);
    }

    /// <summary>
    /// Answers a join from a view bigger than <see cref="MeshConfig.JoinSampleMembers"/>: the joiner as we see it (so
    /// a restarted member learns at once which incarnation to outbid), ourselves and random live members, as many as
    /// one datagram holds (at most that many), without a digest, which tells the joiner it has a sample and should
    /// pull the view from one of them. So a seed answers a joiner with one datagram however big the mesh, and the
    /// views themselves come from the whole mesh.
    /// </summary>
    private PushPull MakeJoinSample(int joiner)
    {
        ScratchMembers.Clear();
        if (joiner >= 0 && _table[joiner].State != MemberState.None) ScratchMembers.Add(joiner);
        ScratchMembers.Add(Self);
        PickRandomLive(_config.JoinSampleMembers, joiner, ScratchMembers);
        var sample = new PushPull { SourceId = Id, SourceAddress = _selfMeta.GossipAddress, IsReply = true, Members = [] };
        // The members array header may grow from one byte to three past 15 members: reserve it.
        int room = _config.MaxPacketBytes - GossipCodec.Measure(sample) - 2;
        var members = new List<MemberRecord>(ScratchMembers.Count);
        foreach (int m in ScratchMembers)
        {
            MemberEntry e = _table[m];
            var record = new MemberRecord(_directory.MetaOf(e.Meta), e.Incarnation, e.State);
            room -= GossipCodec.MeasureMember(record);
            // The first two (the joiner, ourselves) go whatever the room: without them the answer says nothing.
            if (room < 0 && members.Count >= 2) break;
            members.Add(record);
        }
        return new PushPull { SourceId = Id, SourceAddress = _selfMeta.GossipAddress, IsReply = true, Members = members };
    }
}
