using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Unicode;

namespace BlobCache.Node.Peers;

/// <summary>
/// The members a busy owner names as holding the chunk asked for (its last recipients), by node id, as every
/// transport carries them. The requester maps each id through its own membership view and ignores the ones it does
/// not know alive, so a peer's list can never send it to an address it did not learn by gossip. Encoded as
/// <c>u8 count | count × (u8 length | UTF-8 id)</c>: at most <see cref="MaxIds"/> ids of at most
/// <see cref="MaxIdBytes"/> bytes, so the decoder's work and memory are bounded whatever a peer sends.
/// </summary>
/// <remarks>A value with inline slots: an owner's busy answer allocates nothing (the ids are its members' own strings).</remarks>
public struct PeerHolders
{
    public const int MaxIds = 4;
    public const int MaxIdBytes = 200;
    /// <summary>Largest encoding: fits the error text of every transport.</summary>
    public const int MaxEncodedBytes = 1 + MaxIds * (1 + MaxIdBytes);

    [InlineArray(MaxIds)]
    private struct Ids
    {
        private string _first;
    }

    private Ids _ids;

    public int Count { get; private set; }

    public readonly string this[int i] => (uint)i < (uint)Count ? _ids[i] : throw new ArgumentOutOfRangeException(nameof(i));

    /// <summary>Adds an id; false when the list is full or the id cannot be carried (empty or over the byte cap).</summary>
    public bool TryAdd(string id)
    {
        if (Count == MaxIds || id.Length == 0 || Encoding.UTF8.GetByteCount(id) > MaxIdBytes) return false;
        _ids[Count++] = id;
        return true;
    }

    public readonly int EncodedBytes
    {
        get
        {
            int n = 1;
            for (int i = 0; i < Count; i++) n += 1 + Encoding.UTF8.GetByteCount(_ids[i]);
            return n;
        }
    }

    /// <summary>Writes the list (<paramref name="to"/> must hold <see cref="EncodedBytes"/>); returns the bytes written.</summary>
    public readonly int Encode(Span<byte> to)
    {
        int at = 0;
        to[at++] = (byte)Count;
        for (int i = 0; i < Count; i++)
        {
            int n = Encoding.UTF8.GetBytes(_ids[i], to[(at + 1)..]);
            to[at] = (byte)n;
            at += 1 + n;
        }
        return at;
    }

    /// <summary>Null when <paramref name="from"/> is exactly one well-formed list, else what is wrong with it. Never throws.</summary>
    public static string? TryDecode(ReadOnlySpan<byte> from, out PeerHolders holders)
    {
        holders = default;
        if (from.IsEmpty) return "no holder count";
        int count = from[0];
        if (count > MaxIds) return $"{count} holders, more than {MaxIds}";
        int at = 1;
        for (int i = 0; i < count; i++)
        {
            if (at >= from.Length) return "a holder past the end";
            int n = from[at++];
            if (n == 0 || n > MaxIdBytes) return $"a holder id of {n} bytes";
            if (from.Length - at < n) return "a holder id past the end";
            ReadOnlySpan<byte> id = from.Slice(at, n);
            if (!Utf8.IsValid(id)) return "a holder id that is not UTF-8";
            holders._ids[holders.Count++] = Encoding.UTF8.GetString(id);
            at += n;
        }
        return at == from.Length ? null : "trailing bytes after the holders";
    }
}
