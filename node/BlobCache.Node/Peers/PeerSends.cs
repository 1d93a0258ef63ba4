using BlobCache.Mesh.Reading;
using BlobCache.Node.Gossip;
using BlobCache.Node.Telemetry;

namespace BlobCache.Node.Peers;

/// <summary>
/// This node's chunk sends to peers, over every transport together: at most <c>maxSending</c> at once
/// (<see cref="OwnerPolicy"/>, --max-peer-sends), and who got each chunk last (<see cref="RecentHolders"/>), so a
/// request that finds every slot taken is answered "busy" with members that hold the chunk, and a stampede on one
/// chunk fans out as a tree of copies instead of queueing at its owner. Recipients are recorded by their index in
/// this node's membership view and named only while that view has them alive.
/// </summary>
public sealed class PeerSends(int maxSending, IMeshView mesh, NodeMetrics metrics)
{
    private readonly RecentHolders _holders = new();
    private readonly Lock _gate = new();
    private int _sending;

    public int MaxSending => maxSending;

    /// <summary>Takes a send slot for a chunk this node holds (end it with <see cref="EndSend"/>); false: answer busy.</summary>
    public bool TryBeginSend()
    {
        while (true)
        {
            int sending = Volatile.Read(ref _sending);
            if (OwnerPolicy.Decide(held: true, fill: false, sending, maxSending) != OwnerAction.Send) return false;
            if (Interlocked.CompareExchange(ref _sending, sending + 1, sending) != sending) continue;
            metrics.PeerSendBegan();
            return true;
        }
    }

    /// <summary>Frees a send slot; when the chunk keyed <paramref name="key"/> was <paramref name="delivered"/>, its recipient now holds it.</summary>
    public void EndSend(ulong key, string to, bool delivered)
    {
        Interlocked.Decrement(ref _sending);
        metrics.PeerSendEnded();
        if (!delivered) return;
        int member = mesh.Current.LiveIndexOf(to);
        if (member < 0) return;
        lock (_gate) _holders.Add(key, member);
    }

    /// <summary>
    /// Live members this node sent the chunk to, leaving out <paramref name="asker"/>: each busy answer for a chunk names
    /// the next few of its recent recipients, so readers turned away at once spread over all of them.
    /// </summary>
    public PeerHolders HoldersOf(ulong key, string asker)
    {
        MeshSnapshot view = mesh.Current;
        Span<int> recent = stackalloc int[PeerHolders.MaxIds];
        int count;
        lock (_gate) count = _holders.NextHolders(key, recent, exclude: view.LiveIndexOf(asker));
        var named = new PeerHolders();
        for (int i = 0; i < count; i++)
        {
            // A recipient the view no longer has alive is not named: the asker would only lose a round trip.
            if (view.MetaOf(recent[i]) is { } meta && view.LiveIndexOf(meta.Id) == recent[i]) named.TryAdd(meta.Id);
        }
        return named;
    }
}
