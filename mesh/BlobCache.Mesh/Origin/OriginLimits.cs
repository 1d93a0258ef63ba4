namespace BlobCache.Mesh.Origin;

/// <summary>
/// What a storage account lets through before it answers 503 ServerBusy: Azure's published scalability targets for a
/// standard general-purpose v2 account (20,000 requests/s for the account, 500 requests/s for any one blob, 50 Gbps
/// egress in most regions). The simulator's origin and the tests' throttling proxy both enforce these with
/// <see cref="OriginThrottle"/>, so a result that depends on Blob's limits was decided by the same rule everywhere.
/// </summary>
public sealed record OriginLimits
{
    public static readonly OriginLimits Azure = new();

    /// <summary>No limit at all: an origin that never throttles, for runs that measure something else.</summary>
    public static readonly OriginLimits None = new() { AccountRequestsPerSecond = 0, BlobRequestsPerSecond = 0, AccountEgressGbps = 0 };

    /// <summary>Requests per second across the account, every kind counted; 0 = unlimited.</summary>
    public int AccountRequestsPerSecond { get; init; } = 20_000;

    /// <summary>Requests per second to any one blob (reads, property reads); 0 = unlimited.</summary>
    public int BlobRequestsPerSecond { get; init; } = 500;

    /// <summary>Bytes the account sends per second, in gigabits; 0 = unlimited.</summary>
    public double AccountEgressGbps { get; init; } = 50;

    /// <summary>
    /// How long a burst above the rate the account absorbs before throttling, as a multiple of one second's budget.
    /// Azure does not publish this; one second keeps a short burst (a job's first listing) from being refused while
    /// a sustained excess is.
    /// </summary>
    public double BurstSeconds { get; init; } = 1.0;

    public long AccountEgressBytesPerSecond => (long)(AccountEgressGbps * 1e9 / 8);

    public void Validate()
    {
        if (AccountRequestsPerSecond < 0) throw new ArgumentOutOfRangeException(nameof(AccountRequestsPerSecond), AccountRequestsPerSecond, "not negative (0 = unlimited)");
        if (BlobRequestsPerSecond < 0) throw new ArgumentOutOfRangeException(nameof(BlobRequestsPerSecond), BlobRequestsPerSecond, "not negative (0 = unlimited)");
        if (!(AccountEgressGbps >= 0)) throw new ArgumentOutOfRangeException(nameof(AccountEgressGbps), AccountEgressGbps, "not negative (0 = unlimited)");
        if (!(BurstSeconds is > 0 and <= 60)) throw new ArgumentOutOfRangeException(nameof(BurstSeconds), BurstSeconds, "above 0, at most 60");
    }
}
