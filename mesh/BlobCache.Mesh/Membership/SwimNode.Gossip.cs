using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

// Dissemination: rumours piggy-back on every packet, and a gossip round sends them to a few random members.
public sealed partial class SwimNode
{
    // Scratch lists shared by every node on a thread: a node's call never runs another node's code, and the
    // simulator holds 100,000 nodes that would otherwise each keep their own.
    [ThreadStatic] private static List<int>? t_scratchMembers;
    [ThreadStatic] private static List<Rumour>? t_scratchRumours;
    private long _gossipRounds;

    private void OnGossipTimer(long now)
    {
        SendGossipRound(now);
        if (!GossipsSuspicions && ++_gossipRounds % Math.Max(1, _probeInterval / _gossipInterval) == 0) RemindSuspects();
        Schedule(now + _gossipInterval, SwimTimerKind.Gossip);
    }

    private void SendGossipRound(long now)
    {
        if (_broadcasts.Count == 0) return;
        ScratchMembers.Clear();
        PickRandomLive(_config.GossipNodes, -1, ScratchMembers);
        foreach (int member in ScratchMembers)
        {
            if (_broadcasts.Count == 0) break;
            var message = new Gossip { SourceId = Id };
            Send(member, MetaOf(member)!.GossipAddress, message);
            if (message.Updates.Count == 0) Outbox.RemoveAt(Outbox.Count - 1);
        }
    }

    /// <summary>
    /// Queues a message with as many rumours piggy-backed as fit the datagram budget (push-pull carries none), and
    /// the channel it goes by (<see cref="GossipChannels.Choose"/>).
    /// </summary>
    private void Send(int toMember, string toAddress, GossipMessage message) => Send(toMember, toAddress, message, default, false);

    /// <summary>As <see cref="Send(int, string, GossipMessage)"/>, with <paramref name="first"/> first in the packet (it uses up room).</summary>
    private void Send(int toMember, string toAddress, GossipMessage message, in Rumour first) => Send(toMember, toAddress, message, first, true);

    private void Send(int toMember, string toAddress, GossipMessage message, in Rumour first, bool hasFirst)
    {
        if (message is not PushPull && (hasFirst || _broadcasts.Count > 0))
        {
            List<Rumour> rumours = ScratchRumours;
            rumours.Clear();
            int room = GossipCodecSizes.Room(message, _config.MaxPacketBytes);
            if (hasFirst)
            {
                room -= first.Size;
                rumours.Add(first);
            }
            int live = _table.LiveCount;
            _broadcasts.Take(room, _config.RetransmitLimit(live), rumours, _table, _config.DeadRetransmitLimit(live));
            // One exact-size array per packet: the list is reused, so a packet costs no resizing.
            if (rumours.Count > 0) message.Updates = new RumourList(_directory, rumours.ToArray());
        }
        GossipChannel channel = GossipChannels.Choose(message, _config.MaxPacketBytes, out int bytes);
        Outbox.Add(new Outbound(toMember, toAddress, message, channel, bytes));
    }

    /// <summary>Up to <paramref name="count"/> distinct live members other than self and <paramref name="exclude"/>, chosen at random.</summary>
    private void PickRandomLive(int count, int exclude, List<int> into)
    {
        int size = _directory.Count;
        int available = _table.LiveCount - 1 - (exclude >= 0 && _table[exclude].IsLive ? 1 : 0);
        count = Math.Min(count, available);
        if (count <= 0) return;
        // Random tries first (cheap when most known members are live), then a bounded scan from a random point.
        for (int tries = 0; tries < count * 8 && into.Count < count; tries++)
        {
            int c = _random.Next(size);
            if (c != Self && c != exclude && _table[c].IsLive && !into.Contains(c)) into.Add(c);
        }
        int start = _random.Next(size);
        for (int i = 0; i < size && into.Count < count; i++)
        {
            int c = (start + i) % size;
            if (c != Self && c != exclude && _table[c].IsLive && !into.Contains(c)) into.Add(c);
        }
    }

    private static List<int> ScratchMembers => t_scratchMembers ??= [];

    private static List<Rumour> ScratchRumours => t_scratchRumours ??= [];
}
