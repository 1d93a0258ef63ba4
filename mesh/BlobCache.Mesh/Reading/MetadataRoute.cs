using System.Runtime.CompilerServices;
using BlobCache.Mesh.Placement;

namespace BlobCache.Mesh.Reading;

/// <summary>What a node does next to learn a blob's properties (or a listing page) it has no fresh answer for.</summary>
public enum MetadataStep : byte
{
    /// <summary>Ask <see cref="MetadataDecision.Member"/>, giving up at <see cref="MetadataDecision.Deadline"/>.</summary>
    AskPeer,
    /// <summary>Ask Blob (through this node's own single-flight lookup).</summary>
    AskBlob,
    /// <summary>A peer answered.</summary>
    Done,
    /// <summary>
    /// This route serves a peer, and the owner it asked says Blob is throttling it: tell the peer so at once. The
    /// peer backs off and asks the owner itself; this node backing off instead would keep it waiting for nothing.
    /// </summary>
    AnswerBusy,
}

/// <summary>
/// One step of a <see cref="MetadataRoute"/>. <see cref="Direct"/> is what the request tells the peer: answer from
/// your cache or from Blob, never by asking another peer (so a lookup is at most two peer hops, and two nodes whose
/// views disagree about the owner cannot ask each other in a circle).
/// </summary>
/// <see cref="NotBefore"/>: when to send it (later than now only to ask a throttled owner again).
public readonly record struct MetadataDecision(MetadataStep Step, int Member, bool Direct, long Deadline, long NotBefore = 0);

/// <summary>
/// Where a node asks for a blob's properties or a listing page, as a state machine shared by the node and the
/// simulator: the key's owner in the region answers for every member (it asks Blob once per TTL), so Blob sees
/// requests per object per region, not per node.
/// </summary>
/// <remarks>
/// A hot key read by every member would bring the owner N/TTL requests a second. So a region of more than
/// <see cref="MetadataRouting.MembersPerOwner"/> members puts a second level in front of the owner: each member
/// asks the <em>deputy</em> of its own bucket (the rendezvous owner of the key salted with the bucket; a member's
/// bucket is fixed by its id), and only deputies ask the owner. With N members and M members per owner there are
/// B = ceil(N / M) buckets; per key, a deputy serves about M readers and the owner about B deputies, so no node
/// is asked about one key more than max(M, B) times per TTL. A deputy or owner that fails or times out costs its
/// deadline, then the next place: the owner, the key's second owner, and Blob. No I/O and no clock.
/// </remarks>
public struct MetadataRoute
{
    public const int MaxSteps = 4;

    [InlineArray(MaxSteps)]
    private struct Steps
    {
        private MetadataDecision _first;
    }

    private Steps _steps;
    private int _count, _next, _throttledRetries;
    private bool _forPeer;
    private long _deadlineMicros, _throttledSince, _throttleWaitMicros, _throttleBackoffMicros;
    private MetadataDecision _current;

    /// <summary>
    /// The route of member <paramref name="self"/> for the key <paramref name="key"/> in <paramref name="region"/>.
    /// <paramref name="forPeer"/>: what a peer asked for, with <paramref name="direct"/> as it asked; a direct request
    /// is answered from Blob, any other (this node is a deputy) from the owners, never from another deputy.
    /// </summary>
    public static MetadataRoute Plan(MetadataRouting settings, ulong key, int self, ulong selfIdHash, RegionPlacement region, bool forPeer = false, bool direct = false)
    {
        var route = new MetadataRoute
        {
            _deadlineMicros = settings.PeerDeadlineMicros, _throttledSince = -1, _throttleWaitMicros = settings.ThrottleWaitMicros,
            _throttleBackoffMicros = settings.ThrottleBackoffMicros, _forPeer = forPeer,
        };
        if (!settings.Enabled || (forPeer && direct)) return route;
        Span<int> owners = stackalloc int[2];
        int ownerCount = region.Owners(key, owners[..Math.Min(2, settings.OwnersToTry)]);
        if (ownerCount == 0) return route;
        // An owner ranked before this node: ask it; this node itself as an owner asks Blob for the region (its
        // deputy would only ask it back).
        if (!forPeer && owners[0] != self && BucketsFor(settings, region.Count) is var buckets and > 1)
        {
            int deputy = region.Owner(DeputyKey(key, Bucket(selfIdHash, buckets)));
            if (deputy != self && deputy != owners[0]) route.Add(deputy, direct: false);
        }
        for (int i = 0; i < ownerCount && owners[i] != self; i++) route.Add(owners[i], direct: true);
        return route;
    }

    /// <summary>How many deputies a key has in a region of <paramref name="members"/>: 1 (the owner alone) up to a few thousand.</summary>
    public static int BucketsFor(MetadataRouting settings, int members) =>
        members <= settings.MembersPerOwner ? 1 : (int)Math.Min(MetadataRouting.MaxBuckets, ((long)members + settings.MembersPerOwner - 1) / settings.MembersPerOwner);

    /// <summary>A member's bucket: fixed by its id, so a member always asks the same deputy about a key (which then has it cached).</summary>
    public static int Bucket(ulong selfIdHash, int buckets) => (int)(StableHash.Mix(selfIdHash, 0x6D657461) % (ulong)buckets);

    /// <summary>The key whose rendezvous owner is a bucket's deputy: distinct keys spread deputies over the region.</summary>
    public static ulong DeputyKey(ulong key, int bucket) => StableHash.Mix(key, (ulong)bucket + 1);

    private void Add(int member, bool direct)
    {
        for (int i = 0; i < _count; i++)
        {
            if (_steps[i].Member == member) return;
        }
        _steps[_count++] = new MetadataDecision(MetadataStep.AskPeer, member, direct, 0);
    }

    /// <summary>Peers this route may ask (0: this node asks Blob itself).</summary>
    public readonly int PeersPlanned => _count;

    public readonly MetadataDecision Current => _current;

    public MetadataDecision Start(long now) => _current = Next(now);

    /// <summary>
    /// The peer asked in <see cref="Current"/> answered (<paramref name="answered"/>), or failed, refused or passed
    /// its deadline: the next place.
    /// </summary>
    public MetadataDecision OnAnswer(long now, bool answered)
    {
        if (_current.Step != MetadataStep.AskPeer) return _current;
        return _current = answered ? _current with { Step = MetadataStep.Done } : Next(now);
    }

    /// <summary>
    /// The peer asked in <see cref="Current"/> said Blob is throttling it. An owner is asked again after a growing
    /// backoff for up to <see cref="MetadataRouting.ThrottleWaitMicros"/>: each of its lookups is one request to
    /// Blob, where every asker going to Blob itself would be one each (the simulator's fallback storm: more requests
    /// through the mesh than direct, under a throttling account). A deputy's refusal sends the asker to the owner.
    /// Only the node whose own reader asked backs off: a route planned for a peer ends in
    /// <see cref="MetadataStep.AnswerBusy"/>, so a deputy never holds its asker through a wait the asker makes anyway.
    /// </summary>
    public MetadataDecision OnThrottled(long now)
    {
        if (_current.Step != MetadataStep.AskPeer) return _current;
        if (!_current.Direct) return OnAnswer(now, answered: false);
        if (_forPeer) return _current = _current with { Step = MetadataStep.AnswerBusy };
        if (_throttledSince < 0) _throttledSince = now;
        if (now - _throttledSince >= _throttleWaitMicros) return OnAnswer(now, answered: false);
        long at = now + (_throttleBackoffMicros << Math.Min(_throttledRetries++, 4));
        return _current = _current with { NotBefore = at, Deadline = at + _deadlineMicros };
    }

    private MetadataDecision Next(long now)
    {
        if (_next == _count) return new MetadataDecision(MetadataStep.AskBlob, -1, false, long.MaxValue);
        MetadataDecision d = _steps[_next++];
        return d with { Deadline = now + _deadlineMicros, NotBefore = now };
    }
}
