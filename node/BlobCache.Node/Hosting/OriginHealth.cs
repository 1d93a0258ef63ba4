using System.Diagnostics;
using BlobCache.Node.Origin;

namespace BlobCache.Node.Hosting;

/// <summary>Whether the origin answers, asked at most every few seconds.</summary>
internal sealed class OriginHealth(IBlobOrigin origin)
{
    private long _checkedAt = long.MinValue;
    private bool _up;

    public async Task<bool> IsUpAsync(CancellationToken ct)
    {
        if (Stopwatch.GetElapsedTime(Volatile.Read(ref _checkedAt)) < TimeSpan.FromSeconds(5) && _checkedAt != long.MinValue) return _up;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(3));
        _up = await origin.PingAsync(timeout.Token).ConfigureAwait(false);
        Volatile.Write(ref _checkedAt, Stopwatch.GetTimestamp());
        return _up;
    }
}
