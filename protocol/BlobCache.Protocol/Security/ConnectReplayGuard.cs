using System.Buffers.Binary;
using System.Net;

namespace BlobCache.Protocol.Security;

/// <summary>
/// Remembers the connect tokens a node accepted while they are fresh (<see cref="ConnectToken.MaxSkew"/> either
/// side of their time), so a token captured on the wire is refused when it comes back from another address. The
/// same token from the same address is a retransmission (LiteNetLib resends its connect request until it hears
/// back) and is admitted again. Only tokens whose signature verified are recorded, so strangers cannot fill it.
/// </summary>
public sealed class ConnectReplayGuard(int capacity = ConnectReplayGuard.DefaultCapacity)
{
    /// <summary>Fresh tokens remembered at most; past it a new one is refused until old ones expire.</summary>
    public const int DefaultCapacity = 65_536;

    private readonly Dictionary<UInt128, (IPEndPoint From, long ExpiresMs)> _seen = [];
    private readonly Lock _lock = new();
    private long _nextPruneMs;

    /// <summary>Tokens remembered now (for tests and /status).</summary>
    public int Count
    {
        get
        {
            lock (_lock) return _seen.Count;
        }
    }

    /// <summary>
    /// Admits a token that <see cref="ConnectToken.Check"/> accepted, from <paramref name="from"/> at
    /// <paramref name="nowUnixMs"/>: false if it was already used from another address, or the guard is full.
    /// </summary>
    public bool TryAdmit(ReadOnlySpan<byte> token, IPEndPoint from, long nowUnixMs)
    {
        ArgumentNullException.ThrowIfNull(from);
        if (token.Length < ConnectToken.MinBytes) return false;
        // The MAC names the token: 128 of its 256 bits are plenty to tell tokens apart.
        UInt128 id = BinaryPrimitives.ReadUInt128LittleEndian(token[^ConnectToken.MacBytes..]);
        long expires = ConnectToken.IssuedAt(token) + 2 * (long)ConnectToken.MaxSkew.TotalMilliseconds;
        lock (_lock)
        {
            if (nowUnixMs >= _nextPruneMs || _seen.Count >= capacity) Prune(nowUnixMs);
            if (_seen.TryGetValue(id, out (IPEndPoint From, long ExpiresMs) seen) && seen.ExpiresMs > nowUnixMs)
                return seen.From.Equals(from);
            if (_seen.Count >= capacity) return false;
            _seen[id] = (from, expires);
            return true;
        }
    }

    private void Prune(long nowUnixMs)
    {
        _nextPruneMs = nowUnixMs + 10_000;
        foreach ((UInt128 id, (IPEndPoint _, long expires)) in _seen)
            if (expires <= nowUnixMs) _seen.Remove(id);
    }
}
