namespace BlobCache.Testing;

/// <summary>
/// Which blobcache build a test or benchmark starts: the JIT build beside the tests (<c>dotnet exec blobcache.dll</c>)
/// or a native executable (the NativeAOT publish).
/// </summary>
public sealed class NodeProgram
{
    /// <summary>The environment variable that names a native blobcache for every node the tests and benchmarks start.</summary>
    public const string Variable = "BLOBCACHE_NODE_BINARY";

    private NodeProgram(string? native) => Native = native;

    /// <summary>The native executable, or null for the JIT build.</summary>
    public string? Native { get; }

    public static NodeProgram Jit { get; } = new(null);

    public static NodeProgram NativeAt(string path) => new(Path.GetFullPath(path));

    /// <summary>What nodes run unless a test picks: the executable <see cref="Variable"/> names, else the JIT build.</summary>
    public static NodeProgram Default { get; } =
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } path ? NativeAt(path) : Jit;

    /// <summary>A native build to measure or test: the one <see cref="Variable"/> names, else the published one if present, else null.</summary>
    public static NodeProgram? NativeBuild => Default.Native is not null ? Default : File.Exists(PublishedAot) ? NativeAt(PublishedAot) : null;

    /// <summary>Where <c>dotnet publish node/BlobCache.Node -c Release -r linux-x64 -p:PublishAot=true</c> puts the native build.</summary>
    public static string PublishedAot { get; } =
        Path.Combine(Repo.Root, "node", "BlobCache.Node", "bin", "Release", "net10.0", "linux-x64", "publish", "blobcache");

    /// <summary>The command line that runs this build, before blobcache's own arguments.</summary>
    public IReadOnlyList<string> Command => Native is null ? ["dotnet", "exec", Repo.NodeDll] : [Native];

    public override string ToString() => Native ?? "dotnet exec " + Repo.NodeDll;
}
