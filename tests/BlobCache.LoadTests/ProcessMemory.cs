using System.Globalization;

namespace BlobCache.LoadTests;

/// <summary>A process's memory as /proc tells it, in MiB.</summary>
public static class ProcessMemory
{
    /// <summary>
    /// A line of /proc/PID/FILE in MiB, NaN when absent: <c>status</c>'s VmRSS (all resident pages) and RssAnon (the
    /// process's own memory), <c>smaps_rollup</c>'s Rss, Anonymous and Pss (shared file pages, such as the runtime's
    /// libraries, divided among the processes that map them: what one more member costs a host that already runs some).
    /// </summary>
    public static double MiB(int pid, string file, string key)
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/{pid}/{file}"))
            {
                if (line.StartsWith(key, StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
            }
        }
        catch (IOException)
        {
        }
        return double.NaN;
    }
}
