namespace BlobCache.Fuse;

/// <summary>One line of /proc/self/mountinfo: the device (major:minor), where it is mounted, and its type.</summary>
public sealed record MountPoint(string Device, string Directory, string Type);

/// <summary>This process's view of what is mounted where (/proc/self/mountinfo).</summary>
public static class MountTable
{
    /// <summary>The last mount at <paramref name="directory"/> (the one a path walk sees), or null.</summary>
    public static MountPoint? Find(string directory)
    {
        string target = Normalize(directory);
        MountPoint? found = null;
        foreach (string line in File.ReadLines("/proc/self/mountinfo"))
        {
            MountPoint? m = Parse(line);
            if (m is not null && m.Directory == target) found = m;
        }
        return found;
    }

    /// <summary>"36 35 98:0 /root /mnt/point rw,noatime shared:1 - fuse.blobcache source ro,...".</summary>
    internal static MountPoint? Parse(string line)
    {
        string[] fields = line.Split(' ');
        if (fields.Length < 9) return null;
        int separator = Array.IndexOf(fields, "-", 6);
        if (separator < 0 || separator + 1 >= fields.Length) return null;
        return new MountPoint(fields[2], Unescape(fields[4]), fields[separator + 1]);
    }

    public static string Normalize(string directory)
    {
        string full = Path.GetFullPath(directory);
        return full.Length > 1 ? full.TrimEnd('/') : full;
    }

    // The kernel writes space, tab, newline and backslash in paths as \040, \011, \012, \134.
    private static string Unescape(string s)
    {
        if (!s.Contains('\\', StringComparison.Ordinal)) return s;
        var b = new System.Text.StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 3 < s.Length && IsOctal(s[i + 1]) && IsOctal(s[i + 2]) && IsOctal(s[i + 3]))
            {
                b.Append((char)Convert.ToInt32(s.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                b.Append(s[i]);
            }
        }
        return b.ToString();
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';
}
