namespace BlobCache.Testing;

/// <summary>Paths inside the repository the tests run from.</summary>
public static class Repo
{
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "BlobCache.sln"))) dir = Path.GetDirectoryName(dir);
        return dir ?? throw new InvalidOperationException("cannot find BlobCache.sln above " + AppContext.BaseDirectory);
    }

    /// <summary>The blobcache program built next to the tests.</summary>
    public static string NodeDll => Path.Combine(AppContext.BaseDirectory, "blobcache.dll");
}
