using System.Diagnostics;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Integration;

/// <summary><c>blobcache demo</c>, the README's first command, on the built-in sample origin.</summary>
[Collection(MeshCollection.Name)] // not for the fixture: to take turns with the other tests that start meshes
public sealed class DemoTests
{
    [Fact]
    public async Task A_healthy_demo_matches_every_byte_and_prints_no_warning()
    {
        using Process demo = NodeProcess.Launch(["demo", "--origin", "sample"], new Dictionary<string, string>());
        Task<string> stdout = demo.StandardOutput.ReadToEndAsync(), stderr = demo.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await demo.WaitForExitAsync(deadline.Token);
        string output = await stdout + await stderr;

        Assert.True(demo.ExitCode == 0, $"the demo exited with {demo.ExitCode}:\n{output}");
        Assert.Contains("every byte matched the origin", output, StringComparison.Ordinal);
        string[] warnings = output.Split('\n').Where(l => l.Contains(" warn: ", StringComparison.Ordinal) || l.Contains(" fail: ", StringComparison.Ordinal)
            || l.Contains(" crit: ", StringComparison.Ordinal)).ToArray();
        Assert.True(warnings.Length == 0, "a healthy demo warned:\n" + string.Join('\n', warnings));
    }
}
