using System.Diagnostics;
using BlobCache.Mesh;
using BlobCache.Mesh.Origin;
using BlobCache.Mesh.Placement;

namespace BlobCache.Testing;

/// <summary>
/// A <see cref="FaultProxy"/> rule that makes Azurite behave like a storage account with request limits: each
/// request is classified (ranged GET, HEAD, List Blobs page, container properties) and put to the simulator's own
/// <see cref="OriginThrottle"/> on the wall clock; a refused one gets 503 ServerBusy, as Azure answers.
/// </summary>
public sealed class ThrottledAccount(OriginLimits limits)
{
    private readonly OriginThrottle _throttle = new(limits);
    private readonly Lock _gate = new();
    private readonly long _started = Stopwatch.GetTimestamp();

    public Fault Decide(ProxiedRequest request)
    {
        (OriginRequestKind kind, ulong blobKey) = Classify(request);
        long now = Micros.From(Stopwatch.GetElapsedTime(_started));
        OriginVerdict verdict;
        lock (_gate) verdict = _throttle.Admit(now, kind, blobKey, bytes: 0);
        return verdict == OriginVerdict.Served ? Fault.Pass : Fault.Error(503);
    }

    public long Served(OriginRequestKind kind)
    {
        lock (_gate) return _throttle.Served(kind);
    }

    public long Refused
    {
        get
        {
            lock (_gate) return _throttle.RefusedTotal;
        }
    }

    /// <summary>Path-style Azurite targets: /account/container[/blob][?query].</summary>
    private static (OriginRequestKind, ulong) Classify(ProxiedRequest r)
    {
        string query = r.Target.Contains('?', StringComparison.Ordinal) ? r.Target[(r.Target.IndexOf('?', StringComparison.Ordinal) + 1)..] : "";
        string[] segments = r.Path.Split('/', 3, StringSplitOptions.RemoveEmptyEntries);
        if (query.Contains("comp=list", StringComparison.Ordinal)) return (OriginRequestKind.List, 0);
        if (segments.Length < 3) return (OriginRequestKind.ContainerProperties, 0);
        ulong key = StableHash.BlobKey(segments[1], Uri.UnescapeDataString(segments[2]));
        return (r.Method == "HEAD" ? OriginRequestKind.Head : OriginRequestKind.GetRange, key);
    }
}
