using BlobCache.Node.Config;

namespace BlobCache.Node.Tests.Unit;

public sealed class MountSpecTests
{
    private static readonly Dictionary<string, string?> NoEnvironment = [];

    [Fact]
    public void A_mount_names_account_container_prefix_and_an_absolute_directory()
    {
        MountSpec m = MountSpec.Parse("acct/data/train/images/:/mnt/data", "--mount");
        Assert.Equal(("acct", "data", "train/images", "/mnt/data"), (m.Account, m.Container, m.Prefix, m.Directory));
        Assert.Equal("acct/data/train/images", m.Source);
        Assert.Equal("", MountSpec.Parse("acct/data:/mnt/x", "--mount").Prefix);
    }

    [Fact]
    public void Mounts_come_from_the_flag_the_environment_and_the_config_file_as_every_option_does()
    {
        NodeOptions flag = OptionParser.Parse(["--mount", "acct/one:/mnt/a,acct/two/p:/mnt/b"], NoEnvironment);
        Assert.Equal(["/mnt/a", "/mnt/b"], flag.Mounts.Select(m => m.Directory));
        NodeOptions env = OptionParser.Parse([], new Dictionary<string, string?> { ["BLOBCACHE_MOUNT"] = "acct/one:/mnt/a" });
        Assert.Equal("acct/one", Assert.Single(env.Mounts).Source);
        NodeOptions file = OptionParser.ApplyJson(new NodeOptions(), """{"mount": ["acct/one:/mnt/a"]}""", "test.json");
        Assert.Equal("/mnt/a", Assert.Single(file.Mounts).Directory);
    }

    [Theory]
    [InlineData("acct/data")]              // no directory
    [InlineData("acct/data:")]             // empty directory
    [InlineData("acct:/mnt/x")]            // no container
    [InlineData("ACCT/data:/mnt/x")]       // not an account name
    [InlineData("acct/Bad_Container:/mnt")] // not a container name
    public void A_mount_that_names_no_container_or_no_directory_is_refused_naming_the_flag(string value)
    {
        OptionException e = Assert.Throws<OptionException>(() => OptionParser.Parse(["--mount", value], NoEnvironment));
        Assert.StartsWith("--mount", e.Message, StringComparison.Ordinal);
    }
}
