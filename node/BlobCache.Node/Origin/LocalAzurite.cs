namespace BlobCache.Node.Origin;

/// <summary>
/// Azurite, the Blob emulator, as this repository runs it: its well-known development account, where
/// `npm install --prefix tools/azurite` puts it, and the flags it is started with (loopback only, no telemetry:
/// it would otherwise report to the internet). The demo, the tests and the benchmarks all start it this way.
/// </summary>
public static class LocalAzurite
{
    public const string Account = "devstoreaccount1";
    public const string Key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    /// <summary>The connection string of the development account on <paramref name="port"/> of 127.0.0.1.</summary>
    public static string ConnectionString(int port) =>
        $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={Key};BlobEndpoint=http://127.0.0.1:{port}/{Account};";

    /// <summary>The azurite-blob arguments: blob service on 127.0.0.1:<paramref name="port"/>, data in <paramref name="location"/>.</summary>
    public static string[] Arguments(int port, string location) =>
        ["--blobHost", "127.0.0.1", "--blobPort", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--location", location,
            "--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry"];

    /// <summary>
    /// BLOBCACHE_AZURITE when set (as given), else the first <c>ROOT/tools/azurite/node_modules/.bin/azurite-blob</c>
    /// that exists among <paramref name="roots"/>, else null.
    /// </summary>
    public static string? FindExecutable(IEnumerable<string> roots)
    {
        string? configured = Environment.GetEnvironmentVariable("BLOBCACHE_AZURITE");
        if (!string.IsNullOrEmpty(configured)) return configured;
        foreach (string root in roots)
        {
            string candidate = Path.Combine(root, "tools", "azurite", "node_modules", ".bin", "azurite-blob");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }
}
