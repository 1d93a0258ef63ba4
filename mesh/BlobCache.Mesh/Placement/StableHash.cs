namespace BlobCache.Mesh.Placement;

// TEMPORARY STUB: replaced by the placement work.
public static class StableHash
{
    public static ulong Of(string text)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in text) h = (h ^ c) * 1099511628211UL;
        return h;
    }
}
