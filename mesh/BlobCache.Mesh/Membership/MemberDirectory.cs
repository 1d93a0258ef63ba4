using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

/// <summary>
/// Interns member ids and metadata as small integers, so member tables hold fixed-size structs instead of strings.
/// A real node has one of its own; the simulator gives every virtual node the same one, so equal views use
/// equal indexes and can share a table base. Indexes are handed out in first-seen order and never reused.
/// Not thread-safe: the host drives the mesh from one loop.
/// </summary>
public sealed class MemberDirectory
{
    private readonly Dictionary<string, int> _byId = new(StringComparer.Ordinal);
    private readonly List<string> _ids = [];
    private readonly List<ulong> _idHashes = [];
    private readonly Dictionary<MemberMeta, int> _metaHandles = [];
    private readonly List<MemberMeta?> _metas = [null]; // handle 0 = no metadata

    /// <summary>How many member ids have been seen; valid indexes are [0, Count).</summary>
    public int Count => _ids.Count;

    public int GetOrAdd(string id)
    {
        if (_byId.TryGetValue(id, out int index)) return index;
        index = _ids.Count;
        _byId.Add(id, index);
        _ids.Add(id);
        _idHashes.Add(Placement.StableHash.Of(id));
        return index;
    }

    public bool TryGet(string id, out int index) => _byId.TryGetValue(id, out index);

    public string IdOf(int index) => _ids[index];

    /// <summary>The stable 64-bit hash of the member's id, which placement ranks by.</summary>
    public ulong IdHashOf(int index) => _idHashes[index];

    /// <summary>Returns the handle of an equal metadata value, adding it if new. Handle 0 is never returned.</summary>
    public int Intern(MemberMeta meta)
    {
        if (_metaHandles.TryGetValue(meta, out int handle)) return handle;
        handle = _metas.Count;
        _metas.Add(meta);
        _metaHandles.Add(meta, handle);
        return handle;
    }

    public MemberMeta MetaOf(int handle) =>
        _metas[handle] ?? throw new InvalidOperationException("metadata handle 0 has no value");

    /// <summary>A rumour about known members (<paramref name="from"/> -1 for nobody, <paramref name="meta"/> 0 for none), with its wire size.</summary>
    public Rumour Rumour(UpdateKind kind, int member, uint incarnation, int from, int meta = 0)
    {
        var sized = new Rumour(kind, member, incarnation, from, meta, 0);
        int size = GossipCodec.MeasureUpdate(ToUpdate(sized));
        return new Rumour(kind, member, incarnation, from, meta, (ushort)Math.Min(size, ushort.MaxValue));
    }

    /// <summary>
    /// The rumour a received update names. False when it names a member this directory does not know (only an
    /// Alive update, which carries the member's metadata, adds one) or when an Alive update's metadata is missing
    /// or names another member.
    /// </summary>
    public bool TryRumour(in MemberUpdate update, out Rumour rumour)
    {
        rumour = default;
        int member, meta = 0;
        if (update.Kind == UpdateKind.Alive)
        {
            if (update.Meta is null || !string.Equals(update.Meta.Id, update.MemberId, StringComparison.Ordinal)) return false;
            member = GetOrAdd(update.MemberId);
            meta = Intern(update.Meta);
        }
        else if (!TryGet(update.MemberId, out member)) return false;
        int from = update.From.Length == 0 ? -1 : GetOrAdd(update.From);
        int size = GossipCodec.MeasureUpdate(update);
        rumour = new Rumour(update.Kind, member, update.Incarnation, from, meta, (ushort)Math.Min(size, ushort.MaxValue));
        return true;
    }

    /// <summary>The update a rumour stands for, with ids and metadata from this directory.</summary>
    public MemberUpdate ToUpdate(in Rumour rumour) => new(
        rumour.Kind,
        _ids[rumour.Member],
        rumour.Incarnation,
        rumour.From < 0 ? "" : _ids[rumour.From],
        rumour.Meta == 0 ? null : _metas[rumour.Meta]);
}
