using BlobCache.Node.Config;
using BlobCache.Node.Security;
using BlobCache.Protocol.Security;
using BlobCache.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobCache.Node.Tests.Unit;

public sealed class GossipKeyFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("blobcache-keyfile-").FullName;
    private static readonly string A = KeyringText.NewKey(), B = KeyringText.NewKey();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void A_bad_or_missing_file_is_one_line_naming_the_file_and_line()
    {
        string path = Write("bad", $"# keys\n{A}\nshort==\n");
        var e = Assert.Throws<OptionException>(() => GossipKeyFile.Load(path));
        Assert.Equal($"--gossip-key-file {path}: line 3: not base64 (expected a 32-byte key from `blobcache keygen`)", e.Message);
        e = Assert.Throws<OptionException>(() => GossipKeyFile.Load(Path.Combine(_dir, "missing")));
        Assert.StartsWith($"--gossip-key-file {Path.Combine(_dir, "missing")}: ", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        e = Assert.Throws<OptionException>(() => GossipKeyFile.Load(Write("empty", "\n# nothing\n")));
        Assert.Contains("no keys", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_change_is_applied_and_a_bad_change_keeps_the_ring_in_use_counted_once()
    {
        string path = Write("keys", A);
        using GossipKeyFile file = GossipKeyFile.Load(path);
        KeyEntry a = file.Current.Primary;
        Assert.False(file.Check());

        File.WriteAllText(path, $"{B}\n{A}\n");
        Assert.True(file.Check());
        Assert.Equal(2, file.Current.Keys.Count);
        Assert.Same(a, file.Current.Keys[1]);
        Assert.Equal(1, file.Reloads);

        Keyring inUse = file.Current;
        File.WriteAllText(path, $"{B}\n{B}\n");
        Assert.False(file.Check());
        Assert.False(file.Check());
        Assert.Same(inUse, file.Current);
        Assert.Equal(1, file.ReloadErrors);
        Assert.Equal("line 2: the same key as line 1", file.LastError);

        File.WriteAllText(path, B);
        Assert.True(file.Check());
        Assert.Null(file.LastError);
        Assert.Single(file.Current.Keys);
    }

    [Fact]
    public void A_file_gone_for_a_while_is_one_problem_and_clears_when_it_is_back()
    {
        string path = Write("keys", A);
        using GossipKeyFile file = GossipKeyFile.Load(path);
        Keyring inUse = file.Current;
        File.Delete(path);
        Assert.False(file.Check());
        Assert.False(file.Check());
        Assert.Equal(1, file.ReloadErrors);
        Assert.StartsWith("cannot read ", file.LastError, StringComparison.Ordinal);
        Assert.Same(inUse, file.Current);

        File.WriteAllText(path, A); // the same keys again: nothing to apply, nothing wrong any more
        Assert.False(file.Check());
        Assert.Null(file.LastError);
        Assert.Equal(0, file.Reloads);
    }

    [Fact]
    public async Task A_kubernetes_style_symlink_swap_is_picked_up_without_a_restart()
    {
        // A mounted Secret: keyring -> ..data/keyring, ..data -> a timestamped directory swapped by a rename.
        string v1 = Path.Combine(_dir, "..v1"), v2 = Path.Combine(_dir, "..v2");
        Directory.CreateDirectory(v1);
        Directory.CreateDirectory(v2);
        File.WriteAllText(Path.Combine(v1, "keyring"), A);
        File.WriteAllText(Path.Combine(v2, "keyring"), $"{B}\n{A}\n");
        File.CreateSymbolicLink(Path.Combine(_dir, "..data"), "..v1");
        string path = Path.Combine(_dir, "keyring");
        File.CreateSymbolicLink(path, "..data/keyring");

        using GossipKeyFile file = GossipKeyFile.Load(path);
        file.Watch(NullLogger.Instance, TimeSpan.FromMilliseconds(300));
        string before = file.Current.Primary.Id;
        string swap = Path.Combine(_dir, "..data_tmp");
        File.CreateSymbolicLink(swap, "..v2");
        // rename(2) over the old link, as the kubelet does (File.Move refuses a link to a directory).
        using (var mv = System.Diagnostics.Process.Start("mv", ["-T", swap, Path.Combine(_dir, "..data")]))
        {
            await mv.WaitForExitAsync();
            Assert.Equal(0, mv.ExitCode);
        }

        await Wait.UntilAsync(() => Task.FromResult(file.Current.Keys.Count == 2), TimeSpan.FromSeconds(20), "the swapped keyring to load");
        Assert.NotEqual(before, file.Current.Primary.Id);
        Assert.Equal(before, file.Current.Keys[1].Id);
    }
}
