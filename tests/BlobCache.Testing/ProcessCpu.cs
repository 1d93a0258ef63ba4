using System.Globalization;

namespace BlobCache.Testing;

/// <summary>CPU time of a process and its direct children (nginx's workers), read from /proc.</summary>
public static class ProcessCpu
{
    private const double TicksPerSecond = 100; // USER_HZ on Linux

    /// <summary>User plus system seconds of <paramref name="pid"/> and of every process whose parent it is; 0 off Linux.</summary>
    public static double Seconds(int pid)
    {
        if (!OperatingSystem.IsLinux()) return 0;
        double total = 0;
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            string name = Path.GetFileName(dir);
            if (name.Length == 0 || !char.IsAsciiDigit(name[0])) continue;
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(dir, "stat"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // gone meanwhile
            }
            // "pid (comm) state ppid ... utime stime": fields after the last ')' start at state (field 3).
            string[] f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            int self = int.Parse(name, CultureInfo.InvariantCulture);
            int parent = int.Parse(f[1], CultureInfo.InvariantCulture);
            if (self != pid && parent != pid) continue;
            total += (long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
        }
        return total;
    }
}
