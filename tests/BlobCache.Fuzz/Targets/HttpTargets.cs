using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Xml.Linq;
using BlobCache.Fuzz.Engine;
using BlobCache.Node.Endpoint;
using BlobCache.Node.Origin;
using BlobCache.Store;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace BlobCache.Fuzz.Targets;

/// <summary>Text inputs: UTF-8 bytes (a mutation that breaks a sequence becomes U+FFFD, as Kestrel's decoding would).</summary>
public abstract class TextTarget : FuzzTarget
{
    public override byte[] Generate(Random random) => Encoding.UTF8.GetBytes(GenerateText(random));

    protected abstract string GenerateText(Random random);

    public override object Prepare(byte[] input) => Encoding.UTF8.GetString(input);

    // A string of the input costs two bytes a character; parsers split and copy it a few times more.
    public override long AllocationBound(int inputBytes) => 8L * inputBytes + 16 * 1024;

    public override int MaxInputBytes => 16 * 1024;

    protected static IReadOnlyList<byte[]> Tokens(params string[] tokens) => [.. tokens.Select(Encoding.UTF8.GetBytes)];

    protected static string Number(Random random) => random.Next(6) switch
    {
        0 => "0",
        1 => long.MaxValue.ToString(CultureInfo.InvariantCulture),
        2 => "999999999999999999",
        3 => "1000000000000000000",
        _ => random.Next(1 << 24).ToString(CultureInfo.InvariantCulture),
    };
}

/// <summary>
/// HTTP range headers through <see cref="ByteRange.Resolve"/> against a blob length: the first 8 bytes of the input
/// are the length, the rest is <c>x-ms-range</c>, a newline, then <c>Range</c>. A satisfiable answer lies inside the blob.
/// </summary>
public sealed class RangeTarget : TextTarget
{
    public override string Name => "http-range";

    public override byte[] Generate(Random random)
    {
        long length = random.Next(4) switch { 0 => 0, 1 => 1, 2 => long.MaxValue, _ => random.NextInt64(1L << 36) };
        byte[] text = base.Generate(random);
        byte[] input = new byte[8 + text.Length];
        BinaryPrimitives.WriteInt64LittleEndian(input, length);
        text.CopyTo(input, 8);
        return input;
    }

    protected override string GenerateText(Random random)
    {
        string One() => random.Next(8) switch
        {
            0 => "",
            1 => $"bytes=-{Number(random)}",
            2 => $"bytes={Number(random)}-",
            3 => $"BYTES = {Number(random)} - {Number(random)} ",
            4 => $"bytes={Number(random)}-{Number(random)},{Number(random)}-",
            _ => $"bytes={Number(random)}-{Number(random)}",
        };
        return One() + "\n" + One();
    }

    public override object Prepare(byte[] input)
    {
        // An origin's length is never negative.
        long length = input.Length < 8 ? 0 : BinaryPrimitives.ReadInt64LittleEndian(input) & long.MaxValue;
        string text = Encoding.UTF8.GetString(input.AsSpan(Math.Min(8, input.Length)));
        int newline = text.IndexOf('\n', StringComparison.Ordinal);
        return newline < 0 ? (text, "", length) : (text[..newline], text[(newline + 1)..], length);
    }

    public override object? Run(object prepared)
    {
        (string ms, string range, long length) = ((string, string, long))prepared;
        ByteRange r = ByteRange.Resolve(ms, range, length);
        return r.Kind == RangeKind.Invalid ? null : (r, length); // Invalid: the 400 of a malformed x-ms-range
    }

    public override void Check(byte[] input, object? result)
    {
        if (result is not (ByteRange r, long length)) return;
        bool ok = r.Kind switch
        {
            RangeKind.Whole => r.Start == 0 && r.Length == length,
            RangeKind.Partial => r.Start >= 0 && r.Length >= 1 && r.End <= length - 1 && r.End >= r.Start,
            _ => r.Start == 0 && r.Length == 0,
        };
        if (!ok) throw Violated($"{r} for a blob of {length} bytes");
    }

    public override IReadOnlyList<byte[]> Dictionary => Tokens("bytes=", "-", ",", " ", "\t", "\n", "0", "9", "=", "bytes=-", "+", "٣");
}

/// <summary>
/// A request's raw target through <see cref="BlobResource.TryParse"/> and the naming rules, then the chunk id a
/// valid name becomes (its hash names files on disk). A valid blob name has no "." or ".." segment: a URI built
/// from it addresses exactly that blob.
/// </summary>
public sealed class PathTarget : TextTarget
{
    public override string Name => "http-path";

    protected override string GenerateText(Random random)
    {
        string Part(int max) => random.Next(5) switch
        {
            0 => "",
            1 => Uri.EscapeDataString(UdpFramesTarget.Text(random, max)),
            2 => UdpFramesTarget.Text(random, max),
            3 => "a%2Fb%25c%zz%",
            _ => "data-" + random.Next(1000),
        };
        string path = "/" + (random.Next(4) == 0 ? Part(30) : "devstoreaccount1") + "/" + Part(70);
        if (random.Next(4) != 0) path += "/" + string.Join("/", Enumerable.Range(0, 1 + random.Next(4)).Select(_ => Part(random.Next(8) == 0 ? 1100 : 40)));
        if (random.Next(3) == 0) path += "?restype=container&comp=list";
        return random.Next(10) == 0 ? "http://127.0.0.1:7480" + path : path;
    }

    public override object? Run(object prepared)
    {
        string raw = (string)prepared;
        if (!BlobResource.TryParse(raw, out BlobResource? resource)) return null;
        (string account, string container, string? blob) = resource!;
        if (!BlobNames.IsValidAccount(account) || !BlobNames.IsValidContainer(container) || blob is null || !BlobNames.IsValidBlob(blob)) return "";
        return (new ChunkId(account, container, blob, "\"0x1\"", 0).Hash, blob);
    }

    public override void Check(byte[] input, object? result)
    {
        if (result is not (ulong, string blob)) return;
        // What the SDK's URI does to a name: dot segments resolved, with '\\' read as '/' by some parsers.
        var uri = new Uri("http://127.0.0.1/devstoreaccount1/data/" + string.Join('/', blob.Split('/').Select(Uri.EscapeDataString)).Replace("%5C", "/", StringComparison.Ordinal));
        string addressed = Uri.UnescapeDataString(uri.AbsolutePath);
        if (addressed != "/devstoreaccount1/data/" + blob.Replace('\\', '/')) throw Violated($"a valid blob name '{blob}' addresses '{addressed}'");
    }

    public override IReadOnlyList<byte[]> Dictionary => Tokens("/", "//", "%", "%2F", "%2f", "%25", "%00", "%C3%A9", "%F0%9F%98%80", "%ED%A0%80", "?", "#", "..", "$root", "\\", "\u0001", "/../", "/./", "%2e%2e", "%2E", "..%2F", "..%5C", "\\..\\");
}

/// <summary>
/// A List Blobs query string: ASP.NET's query parsing, <see cref="ListQuery.TryParse"/>, then the listing document
/// that echoes prefix, marker and delimiter (<see cref="ListBlobsXml.Write"/>), which must parse back as XML.
/// </summary>
public sealed class ListQueryTarget : TextTarget
{
    private static readonly ListPage Page = new(
        [new ListedBlob("dir/", true, 0, null, null, null), new ListedBlob("dir/a.bin", false, 123, "\"0x1\"", DateTimeOffset.UnixEpoch, "application/octet-stream")], "next");

    public override string Name => "list-query";

    protected override string GenerateText(Random random)
    {
        var parts = new List<string> { "restype=container", "comp=list" };
        if (random.Next(2) == 0) parts.Add("prefix=" + Value(random));
        if (random.Next(2) == 0) parts.Add("delimiter=" + (random.Next(2) == 0 ? "%2F" : Value(random)));
        if (random.Next(2) == 0) parts.Add("marker=" + Value(random));
        if (random.Next(2) == 0) parts.Add("maxresults=" + (random.Next(3) == 0 ? Number(random) : random.Next(6000).ToString(CultureInfo.InvariantCulture)));
        return string.Join("&", parts.OrderBy(_ => random.Next()));
    }

    private static string Value(Random random) => random.Next(4) switch
    {
        0 => "%" + random.Next(256).ToString("X2", CultureInfo.InvariantCulture),
        1 => Uri.EscapeDataString(UdpFramesTarget.Text(random, 64)),
        2 => "",
        _ => "dir%2F" + random.Next(100),
    };

    public override object? Run(object prepared)
    {
        var query = new QueryCollection(QueryHelpers.ParseQuery((string)prepared));
        if (!ListQuery.TryParse(query, out ListQuery list, out _, out _)) return null;
        return (list, ListBlobsXml.Write("http://127.0.0.1:7480/devstoreaccount1/", "dataset", list.Prefix, list.Marker, list.MaxResults, list.Delimiter, Page));
    }

    public override void Check(byte[] input, object? result)
    {
        if (result is not (ListQuery list, byte[] xml)) return;
        XElement root = XDocument.Load(new MemoryStream(xml), LoadOptions.PreserveWhitespace).Root!;
        // XML normalises line ends (CR LF and CR read back as LF): not a difference a reader can act on.
        string? echoed = (string?)root.Element("Prefix"), expected = list.Prefix?.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');
        if (echoed != expected) throw Violated($"the listing says prefix '{echoed}', the query '{expected}'");
    }

    // XmlWriter keeps buffers of several KiB whatever the input.
    public override long AllocationBound(int inputBytes) => 16L * inputBytes + 96 * 1024;

    public override IReadOnlyList<byte[]> Dictionary => Tokens("&", "=", "%", "%00", "%01", "%1F", "%EF%BF%BE", "%EF%BF%BF", "%ED%A0%80", "+", "prefix=", "marker=", "delimiter=", "maxresults=", "comp=list", "%26", "%3D", "<", "]]>");
}
