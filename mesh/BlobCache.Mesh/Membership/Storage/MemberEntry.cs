using BlobCache.Protocol.Gossip;

namespace BlobCache.Mesh.Membership;

/// <summary>One member as one node sees it: 12 bytes, no references, so a table of them is one flat array.</summary>
public struct MemberEntry : IEquatable<MemberEntry>
{
    public uint Incarnation;
    /// <summary>Handle of the member's metadata in the <see cref="MemberDirectory"/>; 0 when unknown.</summary>
    public int Meta;
    public MemberState State;

    public readonly bool IsLive => State is MemberState.Alive or MemberState.Suspect;

    public readonly bool Equals(MemberEntry other) => Incarnation == other.Incarnation && Meta == other.Meta && State == other.State;

    public override readonly bool Equals(object? obj) => obj is MemberEntry other && Equals(other);

    public override readonly int GetHashCode() => HashCode.Combine(Incarnation, Meta, (byte)State);

    public static bool operator ==(MemberEntry left, MemberEntry right) => left.Equals(right);

    public static bool operator !=(MemberEntry left, MemberEntry right) => !left.Equals(right);
}
