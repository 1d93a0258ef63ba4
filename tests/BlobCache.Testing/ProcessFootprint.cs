using System.Globalization;

namespace BlobCache.Testing;

/// <summary>What a process holds now, from /proc: resident memory and open descriptors.</summary>
public static class ProcessFootprint
{
    public static (long RssBytes, int Fds) Of(int pid)
    {
        long rss = 0;
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                rss = long.Parse(line.AsSpan(6).Trim().ToString().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
        return (rss, Directory.GetFiles($"/proc/{pid}/fd").Length);
    }
}
