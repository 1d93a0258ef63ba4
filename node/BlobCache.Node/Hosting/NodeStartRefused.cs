namespace BlobCache.Node.Hosting;

/// <summary>
/// A node that must not start, with the one line that says why (printed as <c>blobcache: LINE</c>, exit 2); no line
/// when the component that refused has printed its own.
/// </summary>
internal sealed class NodeStartRefused(string? line) : Exception(line ?? "already reported")
{
    public string? Line { get; } = line;
}
