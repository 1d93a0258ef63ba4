namespace BlobCache.Mesh.Placement;

/// <summary>
/// One live member as placement sees it. <paramref name="Member"/> is the caller's opaque index (member table
/// index) and is what lookups return; <paramref name="IdHash"/> = StableHash.Of(memberId) decides its points, so
/// every node agrees; <paramref name="Weight"/> is capacity (100 = standard node, 0 = owns nothing).
/// </summary>
public readonly record struct PlacementMember(int Member, ulong IdHash, ushort Weight);
