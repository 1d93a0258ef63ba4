using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

// Push-pull anti-entropy (digests and differences) with one random member per period, and reconnect pings to
// dead members, which is how the two sides of a healed partition find each other.
public sealed partial class SwimNode
{
    private readonly Dictionary<uint, int> _reconnects = [];
    private int _pushPullTimer; // the live push-pull timer's number: an earlier one, superseded, is ignored when it fires
    private long _pushPullDue;
    private bool _viewsDiffer; // the last push-pull found our view and a peer's apart: exchange again soon
    private const int JoinSettleExchanges = 4; // exchanges after a whole-view join: about 1, 3, 7 and 15 s later
    private const int JoinSettleRounds = 5; // gossip rounds before the first of them
    private int _settleExchanges; // of those, still to come (the next one scheduled included)

    private long PushPullPeriod()
    {
        int n = Math.Max(_table.LiveCount, 1);
        // While exchanges keep finding differences (a fleet starting, a partition healing) the mesh is in flux and
        // gossip alone may not keep up: exchange at the base interval until one finds the views agree. An exchange
        // between agreeing views costs its digest only (about N/4 bytes).
        if (n <= 32 || _viewsDiffer) return _pushPullInterval;
        // A push-pull passes over the whole view and sends its digest, so its cost per node grows with N. memberlist
        // stretches the period by log2(N/32); stretching it by N/32 keeps anti-entropy between agreeing views near
        // 100 B/s per node at any size and the mesh-wide rate near one exchange per interval/32 (about one a
        // second) — enough to repair the rare rumour that gossip failed to deliver.
        return (long)Math.Min(_pushPullInterval * (n / 32.0), long.MaxValue / 4);
    }

    private void SchedulePushPull(long due)
    {
        _pushPullDue = due;
        Schedule(due, SwimTimerKind.PushPull, ++_pushPullTimer);
    }

    /// <summary>Notes whether a push-pull found the views apart; apart, the next exchange comes within the base interval.</summary>
    private void ViewsDiffered(long now, bool differ)
    {
        bool was = _viewsDiffer;
        _viewsDiffer = differ;
        if (differ && !was && _pushPullDue > now + _pushPullInterval)
            SchedulePushPull(now + _pushPullInterval / 2 + _random.NextInt64(Math.Max(1, _pushPullInterval / 2)));
    }

    private void OnPushPullTimer(long now, int timer)
    {
        if (timer != _pushPullTimer) return;
        if (_settleExchanges > 0) _settleExchanges--; // this one
        SchedulePushPull(now + (_settleExchanges > 0 ? SettleGap(JoinSettleExchanges - _settleExchanges) : PushPullPeriod()));
        if (!_leaving) PushPullWithRandomMember();
    }

    /// <summary>The gap before the next exchange after a whole-view join, <paramref name="done"/> of them done: doubling from a few gossip rounds.</summary>
    private long SettleGap(int done) => (JoinSettleRounds * _gossipInterval << done) + _random.NextInt64(_gossipInterval);

    private void PushPullWithRandomMember()
    {
        ScratchMembers.Clear();
        // The first exchange after a join by sample goes to anyone but the member that answered (a seed, often).
        PickRandomLive(1, _joinedVia, ScratchMembers);
        _joinedVia = -1;
        if (ScratchMembers.Count == 0) return;
        int peer = ScratchMembers[0];
        Send(peer, MetaOf(peer)!.GossipAddress, MakeRequest(join: false));
    }

    /// <summary>
    /// Opens a push-pull: our own record (so the peer learns of us even if it holds nothing like us, as a seed does
    /// of a joiner) and the digest of our view, from which the peer tells what we lack. A joiner knows only itself,
    /// so its digest is one bucket, and the answer is the peer's whole view.
    /// </summary>
    private PushPull MakeRequest(bool join)
    {
        MemberEntry self = _table[Self];
        return new PushPull
        {
            SourceId = Id, SourceAddress = _selfMeta.GossipAddress, Join = join, IsReply = false,
            Members = [new MemberRecord(_selfMeta, self.Incarnation, self.State)],
            Digest = Digest(ViewDigest.BucketsFor(_table.KnownCount)),
        };
    }

    /// <summary>Our view's digest; our suspicions hash as ours alone where a suspicion heard from a push-pull counts.</summary>
    private uint[] Digest(int buckets) => ViewDigest.Of(_table, _directory, buckets, GossipsSuspicions ? _directory.IdHashOf(Self) : 0);

    /// <summary>
    /// Answers a push-pull: every member of each bucket where our view's digest differs from <paramref name="theirs"/>
    /// (all of them when the asker sent no digest). With <paramref name="withDigest"/> the answer carries our digest,
    /// so the asker can send back what we lack in turn.
    /// </summary>
    private PushPull MakeAnswer(uint[] theirs, bool withDigest)
    {
        uint[]? mine = theirs.Length == 0 ? null : Digest(theirs.Length);
        var members = new List<MemberRecord>();
        int count = _directory.Count;
        for (int i = 0; i < count; i++)
        {
            MemberEntry e = _table[i];
            if (e.State == MemberState.None) continue;
            if (mine is not null)
            {
                int bucket = ViewDigest.Bucket(_directory.IdHashOf(i), mine.Length);
                if (mine[bucket] == theirs[bucket]) continue;
            }
            members.Add(new MemberRecord(_directory.MetaOf(e.Meta), e.Incarnation, e.State));
        }
        return new PushPull
        {
            SourceId = Id, SourceAddress = _selfMeta.GossipAddress, IsReply = true, Members = members,
            Digest = withDigest && mine is not null ? mine : [],
        };
    }

    private void OnPushPull(long now, PushPull pp)
    {
        bool sample = false;
        if (pp.IsReply && !_joined)
        {
            _joined = true;
            Events.Add(new MemberEvent(now, MemberEventKind.JoinedMesh, Self, _incarnation));
            // A sample, not the view: pull the view from one of the members it named, soon (a random delay within
            // a gossip interval keeps a fleet's joiners from all asking at one instant).
            sample = pp.Digest.Length == 0;
            if (sample) SchedulePushPull(now + 1 + _random.NextInt64(_gossipInterval));
            // A whole view, but of the moment it was sent: members joining in the same instant, or on their next
            // join attempt, are in neither it nor, for certain, the few alive rumours that reach us (those who got
            // them in their own join views spread none). A few exchanges at doubling gaps fill that in.
            else
            {
                _settleExchanges = JoinSettleExchanges;
                SchedulePushPull(now + SettleGap(0));
            }
        }
        // What a joiner pulls, the mesh knows: it spreads none of it (a fleet of joiners re-gossiping the whole
        // membership each would swamp gossip), only what it learns from then on.
        _quietMerge = _bootstrapping && pp.IsReply;
        foreach (MemberRecord r in pp.Members)
        {
            MemberUpdate u = r.State switch
            {
                MemberState.Alive => new MemberUpdate(UpdateKind.Alive, r.Meta.Id, r.Incarnation, pp.SourceId, r.Meta),
                MemberState.Left => new MemberUpdate(UpdateKind.Dead, r.Meta.Id, r.Incarnation, r.Meta.Id, null),
                // A remote "dead" only makes us suspect: we want our own timer to decide (memberlist's rule).
                MemberState.Suspect or MemberState.Dead => new MemberUpdate(UpdateKind.Suspect, r.Meta.Id, r.Incarnation, pp.SourceId, null),
                _ => default,
            };
            if (u.MemberId is not null && _directory.TryRumour(u, out Rumour rumour)) Apply(now, rumour);
        }
        _quietMerge = false;
        int to = _directory.TryGet(pp.SourceId, out int s) ? s : -1;
        if (sample) _joinedVia = to;
        else if (_bootstrapping && pp.IsReply) _bootstrapping = false; // holding a view pulled from the mesh
        if (!pp.IsReply && pp.Join && _table.LiveCount > _config.JoinSampleMembers + 2)
        {
            Send(to, pp.SourceAddress, MakeJoinSample(to));
        }
        else if (!pp.IsReply)
        {
            // Reply after merging, so the answer already carries any refutation the merge caused
            // (after a healed partition that is what lets the two sides accept each other in one round trip).
            Send(to, pp.SourceAddress, MakeAnswer(pp.Digest, withDigest: true));
        }
        else if (pp.Digest.Length > 0)
        {
            // The answer to our request, with the peer's digest: what still differs after merging is what it lacks.
            // Sent without a digest, so the exchange ends here.
            PushPull back = MakeAnswer(pp.Digest, withDigest: false);
            if (back.Members.Count > 0) Send(to, pp.SourceAddress, back);
            ViewsDiffered(now, pp.Members.Count > 0 || back.Members.Count > 0);
        }
        else if (pp.Members.Count > 0)
        {
            ViewsDiffered(now, true); // a peer sent what we lacked
        }
    }

    private void OnReconnectTimer(long now)
    {
        Schedule(now + _reconnectInterval, SwimTimerKind.Reconnect);
        _reconnects.Clear(); // an unanswered reconnect ping from last round is simply forgotten
        if (_leaving || _table.DeadCount == 0) return;
        int size = _directory.Count;
        int start = _random.Next(size);
        for (int i = 0; i < size; i++)
        {
            int c = (start + i) % size;
            if (c == Self || _table.StateOf(c) != MemberState.Dead) continue;
            uint seq = ++_seq;
            _reconnects[seq] = c;
            MemberMeta meta = MetaOf(c)!;
            Send(c, meta.GossipAddress, new Ping { SourceId = Id, Seq = seq, TargetId = meta.Id, SourceAddress = _selfMeta.GossipAddress });
            return;
        }
    }
}
