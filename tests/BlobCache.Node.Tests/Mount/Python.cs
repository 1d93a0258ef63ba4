using System.Text.Json;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Mount;

/// <summary>Debian's python3 running the reader scripts of python/ against a mounted directory.</summary>
public static class Python
{
    public const string Interpreter = "/usr/bin/python3";

    public static string Script(string name) => Path.Combine(AppContext.BaseDirectory, "python", name);

    /// <summary>Runs mount_reader.py in <paramref name="mode"/> over <paramref name="root"/>: relative path → SHA-256 of what it read.</summary>
    public static async Task<Dictionary<string, string>> HashTreeAsync(string root, params string[] mode)
    {
        Assert.True(File.Exists(Interpreter), "Debian's python3 is missing: apt-get install python3-torch (.ci/run does)");
        string output = Path.Combine(Path.GetTempPath(), $"blobcache-hashes-{Guid.NewGuid():N}.json");
        try
        {
            (int code, string text) = await Shell.RunAsync([Interpreter, Script("mount_reader.py"), root, .. mode, output]);
            Assert.True(code == 0, $"mount_reader.py {string.Join(' ', mode)} exited with {code}: {text}");
            return JsonSerializer.Deserialize<Dictionary<string, string>>(await File.ReadAllTextAsync(output))!;
        }
        finally
        {
            File.Delete(output);
        }
    }
}
