using System.Globalization;
using System.Text.Json;
using BlobCache.Mesh.Origin;

namespace BlobCache.Sim.Scenarios;

/// <summary>
/// One scenario run twice under the same origin model: through the mesh, and with every node reading Blob directly
/// (properties, listings and chunks). Says how many times more requests Blob hears without the mesh, per kind and in
/// all, what each run had throttled, and how soon every node had its bytes.
/// </summary>
public sealed record DirectComparison(SimReport Mesh, SimReport Direct)
{
    /// <summary>The baseline of <paramref name="s"/>: no metadata through the mesh, and no chunk from a peer.</summary>
    public static Scenario DirectOf(Scenario s) => s.Workload is { } w
        ? s with { Workload = w with { MetadataViaMesh = false, ChunksViaMesh = false } }
        : throw new ArgumentException($"scenario '{s.Name}' reads no data, so there is nothing to compare with direct reads");

    private OriginReport MeshOrigin => Mesh.Origin!;
    private OriginReport DirectOrigin => Direct.Origin!;

    /// <summary>Direct requests over mesh requests; infinite when the mesh sent none and direct some, 1 when neither did.</summary>
    public static double Ratio(long direct, long mesh) => mesh == 0 ? (direct == 0 ? 1 : double.PositiveInfinity) : direct / (double)mesh;

    public double RequestsRatio(OriginRequestKind kind) => Ratio(DirectOrigin.RequestsByKind[kind], MeshOrigin.RequestsByKind[kind]);

    public double RequestsRatioTotal => Ratio(DirectOrigin.RequestsTotal, MeshOrigin.RequestsTotal);

    public void WriteTo(string directory)
    {
        Mesh.WriteTo(Path.Combine(directory, "mesh"));
        Direct.WriteTo(Path.Combine(directory, "direct"));
        File.WriteAllText(Path.Combine(directory, "comparison.json"), Json());
    }

    public string Json()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartObject("comparison");
            w.WriteString("scenario", Mesh.Scenario);
            w.WriteNumber("nodes", Mesh.Nodes);
            w.WriteStartObject("origin_requests_ratio_direct_over_mesh");
            foreach (OriginRequestKind kind in Enum.GetValues<OriginRequestKind>()) WriteRatio(w, OriginReport.JsonName(kind), RequestsRatio(kind));
            WriteRatio(w, "total", RequestsRatioTotal);
            w.WriteEndObject();
            w.WriteStartObject("throttled");
            w.WriteNumber("mesh", MeshOrigin.ThrottledTotal);
            w.WriteNumber("direct", DirectOrigin.ThrottledTotal);
            w.WriteEndObject();
            w.WriteStartObject("time_to_all_bytes_seconds");
            WriteTimes(w, "mesh", Mesh.Data!.TimeToAllBytes);
            WriteTimes(w, "direct", Direct.Data!.TimeToAllBytes);
            w.WriteEndObject();
            w.WriteStartObject("reads_failed");
            w.WriteNumber("mesh", Mesh.Data.ReadsFailed + Mesh.Data.ListPagesFailed);
            w.WriteNumber("direct", Direct.Data.ReadsFailed + Direct.Data.ListPagesFailed);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    // JSON has no infinity: a ratio over nothing is written as null.
    private static void WriteRatio(Utf8JsonWriter w, string name, double ratio)
    {
        if (double.IsFinite(ratio)) w.WriteNumber(name, Math.Round(ratio, 2));
        else w.WriteNull(name);
    }

    private static void WriteTimes(Utf8JsonWriter w, string name, Percentiles p)
    {
        w.WriteStartObject(name);
        w.WriteNumber("p50", Math.Round(p.P50, 3));
        w.WriteNumber("p99", Math.Round(p.P99, 3));
        w.WriteNumber("nodes", p.Count);
        w.WriteEndObject();
    }

    public string Summary() => string.Create(CultureInfo.InvariantCulture,
        $"  direct / mesh: {RequestsRatioTotal:F1}× the origin requests (GET {RequestsRatio(OriginRequestKind.GetRange):F1}×, HEAD {RequestsRatio(OriginRequestKind.Head):F1}×, LIST {RequestsRatio(OriginRequestKind.List):F1}×); " +
        $"throttled {DirectOrigin.ThrottledTotal:N0} direct, {MeshOrigin.ThrottledTotal:N0} mesh; every node had its bytes after " +
        $"{Direct.Data!.TimeToAllBytes.P50:F1} / {Direct.Data.TimeToAllBytes.P99:F1} s direct ({Direct.Data.TimeToAllBytes.Count:N0} nodes), " +
        $"{Mesh.Data!.TimeToAllBytes.P50:F1} / {Mesh.Data.TimeToAllBytes.P99:F1} s mesh ({Mesh.Data.TimeToAllBytes.Count:N0} nodes) (p50 / p99)");
}
