namespace BlobCache.Node.Tests.Conformance;

/// <summary>Whether a probe's answers from the node and from Blob (Azurite) must agree, or are known to differ and why.</summary>
public enum Expect
{
    /// <summary>Status, error code, every header a client reads and the body agree.</summary>
    Same,
    /// <summary>The node refuses on purpose, in Blob's error shape: it serves reads only, or keeps a rule of Azure's that Azurite does not.</summary>
    Deliberate,
    /// <summary>The node does not match Blob here yet; the probe fails once it does, so this list stays true.</summary>
    NotYet,
}

/// <summary>One request sent to both Blob and the node. <c>{a}</c> in the target stands for the account.</summary>
public sealed record Probe(string Name, string Method, string Target, (string Name, string Value)[] Headers, Expect Expect = Expect.Same, string? Why = null)
{
    public override string ToString() => Name;
}

/// <summary>
/// The corpus: every read-side operation of the Blob REST API that the SDKs, fsspec, AzCopy and hadoop-azure send,
/// with the headers they send, at account, container and blob level, over blob names of the forms Blob allows.
/// </summary>
public static class BlobRestProbes
{
    public const string Container = "conformance";

    /// <summary>Blob names the corpus reads, each uploaded with the same bytes (names of every form Blob allows).</summary>
    public static readonly string[] Names =
    [
        "plain.bin", "props.txt", "dir/sub/deep.bin", "dir/b.bin", "with space.bin", "ümlaut/ß.bin", "a+b=c&d.bin", "percent%25.bin",
        "tilde~and'quote.bin", "semi;colon,comma.bin", "UPPER/Case.BIN", "dots.in.the.name", "-leading-dash", "trailing-dot-in-dir./x.bin",
    ];

    private static (string, string)[] H(params (string, string)[] h) => h;

    private static string Path(string blob) => "/{a}/" + Container + "/" + Uri.EscapeDataString(blob).Replace("%2F", "/", StringComparison.Ordinal);

    /// <param name="marker">A NextMarker Blob gave for the container's listing, to ask for the page after it.</param>
    public static IEnumerable<Probe> All(string etag, string marker)
    {
        // Get Blob and Get Blob Properties, over every name.
        foreach (string name in Names)
        {
            yield return new($"GET {name}", "GET", Path(name), H());
            yield return new($"HEAD {name}", "HEAD", Path(name), H());
        }
        string props = Path("props.txt");
        // Ranges, in both headers, every form Blob accepts.
        yield return new("Range a-b", "GET", props, H(("Range", "bytes=0-99")));
        yield return new("x-ms-range a-b", "GET", props, H(("x-ms-range", "bytes=10-20")));
        yield return new("x-ms-range a-", "GET", props, H(("x-ms-range", "bytes=100-")));
        yield return new("Range past the end is cut", "GET", props, H(("Range", "bytes=100-999999")));
        yield return new("x-ms-range wins over Range", "GET", props, H(("Range", "bytes=0-9"), ("x-ms-range", "bytes=20-29")));
        yield return new("Range starting past the end", "GET", props, H(("x-ms-range", "bytes=999999-")));
        yield return new("range MD5 asked", "GET", props, H(("x-ms-range", "bytes=0-1023"), ("x-ms-range-get-content-md5", "true")));
        yield return new("range MD5 of 4 MiB across chunks", "GET", props, H(("x-ms-range", "bytes=12345-4206648"), ("x-ms-range-get-content-md5", "true")));
        const string Md5Rule = "Azure answers 400 (a range MD5 needs a range of at most 4 MiB) and so does the node; Azurite does not enforce the rule";
        yield return new("range MD5 over 4 MiB", "GET", props, H(("x-ms-range", "bytes=0-4194304"), ("x-ms-range-get-content-md5", "true")), Expect.Deliberate, Md5Rule);
        yield return new("range MD5 without a range", "GET", props, H(("x-ms-range-get-content-md5", "true")), Expect.Deliberate, Md5Rule);
        yield return new("range MD5 false", "GET", props, H(("x-ms-range", "bytes=0-1023"), ("x-ms-range-get-content-md5", "false")), Expect.NotYet,
            "Azurite sends the range's MD5 for any value of the header; Azure, and the node, only for true");
        // Conditional headers.
        yield return new("If-Match current", "GET", props, H(("If-Match", etag)));
        yield return new("If-Match stale", "GET", props, H(("If-Match", "\"0x8D000000000000\"")));
        yield return new("If-None-Match current", "GET", props, H(("If-None-Match", etag)));
        yield return new("If-None-Match star", "HEAD", props, H(("If-None-Match", "*")));
        yield return new("If-None-Match star on a missing blob", "GET", Path("no-such-blob"), H(("If-None-Match", "*")));
        yield return new("If-Match on a missing blob", "GET", Path("no-such-blob"), H(("If-Match", etag)));
        yield return new("If-Modified-Since future", "GET", props, H(("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT")));
        yield return new("If-Modified-Since future, If-None-Match stale", "GET", props, H(("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT"), ("If-None-Match", "\"0x8D000000000000\"")));
        yield return new("If-Modified-Since past", "GET", props, H(("If-Modified-Since", "Thu, 01 Jan 2015 00:00:00 GMT")));
        yield return new("If-Unmodified-Since past", "GET", props, H(("If-Unmodified-Since", "Thu, 01 Jan 2015 00:00:00 GMT")));
        yield return new("If-Unmodified-Since future", "HEAD", props, H(("If-Unmodified-Since", "Fri, 01 Jan 2100 00:00:00 GMT")));
        // Missing things.
        yield return new("missing blob", "GET", Path("no-such-blob"), H());
        yield return new("HEAD missing blob", "HEAD", Path("no-such-blob"), H());
        yield return new("missing container", "GET", "/{a}/no-such-container/x.bin", H());
        yield return new("HEAD in a missing container", "HEAD", "/{a}/no-such-container/x.bin", H());
        // Container level.
        string c = "/{a}/" + Container;
        yield return new("Get Container Properties", "GET", c + "?restype=container", H());
        yield return new("Get Container Metadata", "GET", c + "?restype=container&comp=metadata", H());
        yield return new("Get Container ACL", "GET", c + "?restype=container&comp=acl", H(), Expect.NotYet,
            "Blob answers Get Container ACL to a shared key only (403 to the probes' SAS); the node asks with its own credential, as for every read, and answers Blob's ACL");
        yield return new("List Blobs", "GET", c + "?restype=container&comp=list", H());
        yield return new("List Blobs prefix", "GET", c + "?restype=container&comp=list&prefix=dir/", H());
        yield return new("List Blobs delimiter", "GET", c + "?restype=container&comp=list&delimiter=/", H());
        yield return new("List Blobs maxresults", "GET", c + "?restype=container&comp=list&maxresults=3", H());
        yield return new("List Blobs marker", "GET", c + "?restype=container&comp=list&maxresults=2&marker=" + Uri.EscapeDataString(marker), H());
        yield return new("List Blobs include=metadata", "GET", c + "?restype=container&comp=list&include=metadata", H());
        yield return new("List Blobs include=metadata,tags", "GET", c + "?restype=container&comp=list&include=metadata,tags", H());
        yield return new("List Blobs of a missing container", "GET", "/{a}/no-such-container?restype=container&comp=list", H());
        // Account level.
        yield return new("List Containers", "GET", "/{a}/?comp=list", H());
        yield return new("List Containers prefix", "GET", "/{a}/?comp=list&prefix=conf&include=metadata", H());
        yield return new("List Containers, no slash", "GET", "/{a}?comp=list&maxresults=1", H());
        yield return new("Get Account Information", "HEAD", "/{a}/?restype=account&comp=properties", H());
        yield return new("Get Service Properties", "GET", "/{a}/?restype=service&comp=properties", H());
        // Blob sub-resources.
        yield return new("Get Blob Tags", "GET", props + "?comp=tags", H());
        yield return new("Get Blob Metadata", "GET", props + "?comp=metadata", H(), Expect.NotYet,
            "Azurite answers comp=metadata with the whole blob, as Get Blob; Azure's reference, and the node, answer ETag, Last-Modified and x-ms-meta-* with no body");
        // Writes: the node serves reads only.
        yield return new("Put Blob", "PUT", Path("new.bin"), H(("x-ms-blob-type", "BlockBlob"), ("Content-Length", "0")), Expect.Deliberate, "BlobCache is a read cache: writes go to Blob");
        yield return new("Delete Blob", "DELETE", props, H(), Expect.Deliberate, "BlobCache is a read cache: deletes go to Blob");
    }
}
