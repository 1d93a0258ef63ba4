using BlobCache.Node.Endpoint;

namespace BlobCache.Node.Config;

/// <summary>
/// What a mount shows and where: <c>ACCOUNT/CONTAINER[/PREFIX]:DIR</c>. The prefix is kept without leading or
/// trailing '/'; the directory is absolute.
/// </summary>
public sealed record MountSpec(string Account, string Container, string Prefix, string Directory)
{
    /// <summary>Parses <c>ACCOUNT/CONTAINER[/PREFIX]:DIR</c> (the first ':' ends the blob path).</summary>
    public static MountSpec Parse(string value, string source)
    {
        int colon = value.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0 || colon == value.Length - 1)
            throw new OptionException($"{source}: '{value}' is not ACCOUNT/CONTAINER[/PREFIX]:DIR");
        return Of(value[..colon], value[(colon + 1)..], source);
    }

    /// <summary>A mount of <paramref name="what"/> (<c>ACCOUNT/CONTAINER[/PREFIX]</c>) at <paramref name="directory"/>.</summary>
    public static MountSpec Of(string what, string directory, string source)
    {
        string[] parts = what.Split('/', 3);
        if (parts.Length < 2 || !BlobNames.IsValidAccount(parts[0]) || !BlobNames.IsValidContainer(parts[1]))
            throw new OptionException($"{source}: '{what}' is not ACCOUNT/CONTAINER[/PREFIX]");
        string prefix = parts.Length == 3 ? parts[2].Trim('/') : "";
        if (prefix.Length > 0 && !BlobNames.IsValidBlob(prefix))
            throw new OptionException($"{source}: '{prefix}' is not a valid blob prefix");
        if (string.IsNullOrWhiteSpace(directory)) throw new OptionException($"{source}: the mount directory is empty");
        return new MountSpec(parts[0], parts[1], prefix, Path.GetFullPath(directory.Trim()));
    }

    /// <summary><c>ACCOUNT/CONTAINER[/PREFIX]</c>.</summary>
    public string Source => Prefix.Length == 0 ? $"{Account}/{Container}" : $"{Account}/{Container}/{Prefix}";

    public override string ToString() => $"{Source}:{Directory}";
}
