namespace BlobCache.Node.Endpoint;

/// <summary>Blob's naming rules for the parts of a request path, so a bad name is a 400 and never reaches the origin.</summary>
public static class BlobNames
{
    /// <summary>3–63 characters: lowercase letters, digits and single hyphens, starting and ending with a letter or digit ("$root", "$logs" and "$web" too).</summary>
    public static bool IsValidContainer(ReadOnlySpan<char> name)
    {
        if (name is "$root" or "$logs" or "$web") return true;
        if (name.Length is < 3 or > 63) return false;
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            bool ok = c is (>= 'a' and <= 'z') or (>= '0' and <= '9') || (c == '-' && i > 0 && i < name.Length - 1 && name[i - 1] != '-');
            if (!ok) return false;
        }
        return true;
    }

    /// <summary>
    /// 1–1024 characters, no control characters, not ending in a dot or slash, and no "." or ".." segment: a client
    /// library builds a URI from the name, and URIs resolve dot segments, so such a name would address another blob
    /// (or another container).
    /// </summary>
    public static bool IsValidBlob(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty || name.Length > 1024) return false;
        if (name[^1] is '.' or '/' or '\\') return false;
        foreach (char c in name)
        {
            if (char.IsControl(c)) return false;
        }
        return !HasDotSegment(name);
    }

    /// <summary>
    /// Whether a decoded name has a "." or ".." segment, with '/' or '\' as separators (some URI parsers take a
    /// backslash for a slash).
    /// </summary>
    public static bool HasDotSegment(ReadOnlySpan<char> name)
    {
        foreach (Range r in name.SplitAny('/', '\\'))
        {
            if (name[r] is "." or "..") return true;
        }
        return false;
    }

    /// <summary>3–24 lowercase letters and digits (Azurite's dev account qualifies).</summary>
    public static bool IsValidAccount(ReadOnlySpan<char> name)
    {
        if (name.Length is < 3 or > 24) return false;
        foreach (char c in name)
        {
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9'))) return false;
        }
        return true;
    }
}
