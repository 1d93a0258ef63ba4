using System.Runtime.CompilerServices;
using BlobCache.Mesh.Placement;

namespace BlobCache.Mesh.Reading;

/// <summary>What a reader does next for one chunk it does not hold.</summary>
public enum RouteStep : byte
{
    /// <summary>Ask <see cref="RouteDecision.Member"/>, not before <see cref="RouteDecision.NotBefore"/>, giving up at <see cref="RouteDecision.Deadline"/>.</summary>
    AskPeer,
    /// <summary>Read the chunk from Blob (through this node's own single-flight fill).</summary>
    ReadBlob,
    /// <summary>A peer sent the chunk.</summary>
    Done,
    /// <summary>A peer's metadata says the blob is no longer at the reader's ETag: the reader learns it again.</summary>
    BlobChanged,
}

/// <summary>Why a peer is asked, which decides whether it may fill from Blob.</summary>
public enum PeerRole : byte
{
    /// <summary>An owner of the chunk in this region: it fills from Blob once for every reader in the region.</summary>
    RegionOwner,
    /// <summary>A member an owner named as holding the chunk: asked once, never fills.</summary>
    Holder,
    /// <summary>The chunk's owner in a pooled region: asked without fill, so Blob is read by this region, not that one.</summary>
    PooledOwner,
}

/// <summary>How a peer answered, as a route sees it (every transport maps its own answers to these).</summary>
public enum PeerAnswer : byte { Chunk, NotHere, Busy, Failed, TimedOut, BlobChanged }

/// <summary>One step of a route; <see cref="Fill"/> is what the request asks of the peer.</summary>
public readonly record struct RouteDecision(RouteStep Step, int Member, PeerRole Role, long NotBefore, long Deadline)
{
    public bool Fill => Role == PeerRole.RegionOwner;
}

/// <summary>
/// The read path of one chunk past this node's own tiers, as a state machine: the owners of the chunk in this
/// region in rank order (an owner fills from Blob once for the whole region), holders that a busy peer names
/// (so a stampede fans out as a tree of copies instead of queueing at the owner or going to Blob), the busy owner
/// again after a growing backoff for as long as <see cref="ReadRouting.BusyWaitMicros"/>, the owners in pooled
/// regions, and Blob last. A peer that fails or times out costs its deadline, then the next place; nothing a peer
/// says can send the reader back to a place already tried, except a busy owner. No I/O and no clock: the node and the simulator pass the time
/// in and carry out each decision, so both run this one routing.
/// </summary>
/// <remarks>A value type with inline lists, so routing a chunk allocates nothing.</remarks>
public struct ChunkRoute
{
    /// <summary>As many as the node's --owners-to-try allows; the inline lists hold this many.</summary>
    public const int MaxOwners = 8;
    public const int MaxHolders = 8;
    public const int MaxPooled = 8;

    /// <summary>
    /// Holders one route asks at most: busy holders name further holders, and with more members than the route
    /// remembers as asked, a ring of busy holders could otherwise be walked for ever.
    /// </summary>
    public const int MaxHolderAsks = 64;

    [InlineArray(8)]
    private struct Members
    {
        private int _first;
    }

    [InlineArray(24)]
    private struct Asked
    {
        private int _first;
    }

    private ReadRouting _settings;
    private int _self;
    private Members _owners, _holders, _pooled;
    private Asked _asked;
    private int _ownerCount, _ownerNext, _holderCount, _holderNext, _pooledCount, _pooledNext, _askedCount, _holdersAsked;
    private int _busyOwner, _busyRetries;
    private PeerRole _busyRole;
    private long _busySince;
    private RouteDecision _current;

    /// <summary>
    /// A route for the chunk keyed <paramref name="key"/> read by member <paramref name="self"/>: owners from
    /// <paramref name="region"/> (those ranked before this node; an owner itself reads Blob for the region),
    /// then the owner of each of <paramref name="pooledRegions"/>.
    /// </summary>
    public static ChunkRoute Plan(ReadRouting settings, ulong key, int self, RegionPlacement region, ReadOnlySpan<RegionPlacement> pooledRegions)
    {
        var route = new ChunkRoute { _settings = settings, _self = self, _busyOwner = -1, _busySince = -1 };
        Span<int> owners = stackalloc int[MaxOwners];
        int count = region.Owners(key, owners[..Math.Min(MaxOwners, settings.OwnersToTry)]);
        for (int i = 0; i < count && owners[i] != self; i++) route._owners[route._ownerCount++] = owners[i];
        foreach (RegionPlacement pooled in pooledRegions)
        {
            if (route._pooledCount == MaxPooled) break;
            int owner = pooled.Owner(key);
            if (owner >= 0 && owner != self) route._pooled[route._pooledCount++] = owner;
        }
        return route;
    }

    /// <summary>The step being carried out (the last decision handed out).</summary>
    public readonly RouteDecision Current => _current;

    /// <summary>Owners of this region the route asks; 0 when this node is the chunk's first owner (it reads Blob for the region).</summary>
    public readonly int OwnersPlanned => _ownerCount;

    /// <summary>The first step.</summary>
    public RouteDecision Start(long now) => _current = Next(now);

    /// <summary>
    /// The peer asked in <see cref="Current"/> answered (or its deadline passed: <see cref="PeerAnswer.TimedOut"/>).
    /// A busy peer may name <paramref name="holders"/>: members it sent the chunk to, which are asked next.
    /// </summary>
    public RouteDecision OnAnswer(long now, PeerAnswer answer, ReadOnlySpan<int> holders = default)
    {
        if (_current.Step != RouteStep.AskPeer) return _current;
        switch (answer)
        {
            case PeerAnswer.Chunk:
                return _current = _current with { Step = RouteStep.Done };
            case PeerAnswer.BlobChanged:
                return _current = _current with { Step = RouteStep.BlobChanged };
            case PeerAnswer.Busy:
                foreach (int h in holders) AddHolder(h);
                // An owner (of this region, or of a pooled one) has or will have the chunk: come back to it. A holder
                // that is busy has only named its own holders.
                if (_current.Role != PeerRole.Holder)
                {
                    if (_busySince < 0) _busySince = now;
                    if (now - _busySince < _settings.BusyWaitMicros) (_busyOwner, _busyRole) = (_current.Member, _current.Role);
                }
                break;
        }
        return _current = Next(now);
    }

    // Bounds the holders waiting to be asked, not all a route may ever ask: each busy answer can name new ones.
    private void AddHolder(int member)
    {
        if (_holderNext == _holderCount) _holderNext = _holderCount = 0;
        if (member < 0 || member == _self || _holderCount >= Math.Min(MaxHolders, _settings.HoldersToTry) || WasAsked(member)) return;
        if (_holdersAsked + _holderCount - _holderNext >= MaxHolderAsks) return;
        for (int i = 0; i < _holderCount; i++)
        {
            if (_holders[i] == member) return;
        }
        _holders[_holderCount++] = member;
    }

    private RouteDecision Next(long now)
    {
        // Holders first: they have the bytes now, and asking them spreads the load the owner turned away.
        while (_holderNext < _holderCount)
        {
            int h = _holders[_holderNext++];
            if (WasAsked(h)) continue;
            _holdersAsked++;
            return Ask(h, PeerRole.Holder, now);
        }
        if (_busyOwner >= 0)
        {
            int owner = _busyOwner;
            _busyOwner = -1;
            // Doubling up to a cap: a stampede's owner frees a slot per transfer, and readers that come back at once
            // would find it full again; past the cap a reader still comes back about once per few transfers.
            long backoff = _settings.BusyBackoffMicros << Math.Min(_busyRetries++, _settings.BusyRetries);
            return Ask(owner, _busyRole, now + backoff);
        }
        if (_ownerNext < _ownerCount) return Ask(_owners[_ownerNext++], PeerRole.RegionOwner, now);
        while (_pooledNext < _pooledCount)
        {
            int p = _pooled[_pooledNext++];
            if (!WasAsked(p)) return Ask(p, PeerRole.PooledOwner, now);
        }
        return new RouteDecision(RouteStep.ReadBlob, -1, PeerRole.RegionOwner, now, long.MaxValue);
    }

    // The last 24 members asked: a route that keeps coming back to a busy owner may ask more holders than that, and
    // asking a long-forgotten one again costs a round trip, never wrong bytes.
    private RouteDecision Ask(int member, PeerRole role, long notBefore)
    {
        if (!WasAsked(member)) _asked[_askedCount++ % 24] = member;
        return new RouteDecision(RouteStep.AskPeer, member, role, notBefore, notBefore + _settings.PeerDeadlineMicros);
    }

    private readonly bool WasAsked(int member)
    {
        for (int i = 0; i < Math.Min(_askedCount, 24); i++)
        {
            if (_asked[i] == member) return true;
        }
        return false;
    }
}
