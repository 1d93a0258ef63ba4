using BlobCache.Mesh.Origin;

namespace BlobCache.Sim.Scenarios;

/// <summary>What the simulated storage account saw: requests by kind, refusals by reason, load per object.</summary>
public sealed record OriginReport
{
    public required OriginLimits Limits { get; init; }
    /// <summary>Requests received, served or refused.</summary>
    public required IReadOnlyDictionary<OriginRequestKind, long> RequestsByKind { get; init; }
    public required IReadOnlyDictionary<OriginRequestKind, long> ServedByKind { get; init; }
    /// <summary>Requests refused with 503, by the limit that refused them.</summary>
    public required IReadOnlyDictionary<OriginVerdict, long> Throttled { get; init; }
    /// <summary>The same refusals, by the kind of request refused.</summary>
    public required IReadOnlyDictionary<OriginRequestKind, long> ThrottledByKind { get; init; }
    public required IReadOnlyDictionary<OriginRequestKind, int> PerObjectPerRegionMax { get; init; }
    public required IReadOnlyDictionary<OriginRequestKind, double> PerObjectPerRegionMean { get; init; }
    public long PeakRequestsPerSecond { get; init; }

    public long ThrottledTotal => Throttled.Values.Sum();

    public long RequestsTotal => RequestsByKind.Values.Sum();

    /// <summary>The key a kind or reason has in report.json: get_range, head, list, container_properties, blob_requests...</summary>
    public static string JsonName<T>(T value) where T : struct, Enum =>
        System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString()!);
}
