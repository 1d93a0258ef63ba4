using System.Collections;
using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

/// <summary>
/// A <see cref="MemberUpdate"/> in directory handles: member and accuser as member indexes, metadata as its handle,
/// and the update's exact wire size, so queuing, packing and handling a rumour touch no strings. 20 bytes, no
/// references. Make one with <see cref="MemberDirectory.Rumour"/> or <see cref="MemberDirectory.TryRumour"/>.
/// </summary>
public readonly struct Rumour
{
    internal Rumour(UpdateKind kind, int member, uint incarnation, int from, int meta, ushort size)
    {
        Kind = kind;
        Member = member;
        Incarnation = incarnation;
        From = from;
        Meta = meta;
        Size = size;
    }

    public int Member { get; }
    /// <summary>Index of the member that said so; -1 when the update names nobody.</summary>
    public int From { get; }
    /// <summary>Metadata handle (Alive only); 0 when none.</summary>
    public int Meta { get; }
    public uint Incarnation { get; }
    public UpdateKind Kind { get; }
    /// <summary>Exact encoded size of the update (<see cref="GossipCodec.MeasureUpdate"/>).</summary>
    public ushort Size { get; }
}

/// <summary>
/// The updates of an outgoing message as rumours of one <see cref="MemberDirectory"/>. To the codec and anyone else it
/// is a read-only list of <see cref="MemberUpdate"/>s (made on demand from the directory); a
/// <see cref="SwimNode"/> that shares the directory (all nodes of one simulated process do) reads the rumours
/// directly and skips looking up ids. A real node's messages go through the codec, so it sees a plain list.
/// </summary>
public sealed class RumourList : IReadOnlyList<MemberUpdate>
{
    private readonly MemberDirectory _directory;
    private readonly Rumour[] _items;

    public RumourList(MemberDirectory directory, Rumour[] items)
    {
        _directory = directory;
        _items = items;
        foreach (Rumour r in items) UpdateBytes += r.Size;
    }

    /// <summary>Encoded size of the updates, array header not included.</summary>
    public int UpdateBytes { get; }

    /// <summary>Exactly <see cref="GossipCodec.Measure"/>, without making an update per rumour when the message carries a rumour list.</summary>
    public static int Measure(GossipMessage message) => message.Updates is RumourList list
        ? GossipCodec.MeasureWithoutUpdates(message) - GossipCodec.MeasureArrayHeader(0) + GossipCodec.MeasureArrayHeader(list.Count) + list.UpdateBytes
        : GossipCodec.Measure(message);

    public MemberDirectory Directory => _directory;

    public ReadOnlySpan<Rumour> Items => _items;

    public int Count => _items.Length;

    public MemberUpdate this[int index] => _directory.ToUpdate(_items[index]);

    public IEnumerator<MemberUpdate> GetEnumerator()
    {
        for (int i = 0; i < _items.Length; i++) yield return this[i];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
