namespace BlobCache.Sim.Engine;

/// <summary>FNV-1a over the ordered event log: two runs are the same run exactly when their digests match.</summary>
public sealed class TraceDigest
{
    private ulong _hash = 14695981039346656037UL;

    public ulong Value => _hash;

    public long Count { get; private set; }

    public void Add(long value)
    {
        Count++;
        for (int i = 0; i < 8; i++)
        {
            _hash ^= (byte)(value >> (8 * i));
            _hash *= 1099511628211UL;
        }
    }

    public override string ToString() => _hash.ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
}
