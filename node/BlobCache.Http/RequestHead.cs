using System.Buffers.Text;
using System.Text;
using Microsoft.Net.Http.Headers;

namespace BlobCache.Http;

public enum HeadStatus
{
    /// <summary>No blank line yet: read more.</summary>
    Incomplete,
    Complete,
    /// <summary>Malformed or over a limit: answer <see cref="RequestHead.ErrorStatus"/> and close.</summary>
    Invalid,
}

/// <summary>
/// One HTTP/1.1 request head, parsed strictly from bytes (RFC 9112): request line, header fields, and what framing
/// the body has. Reused for every request of a connection. Anything ambiguous is refused rather than guessed (bare
/// LF line ends, obsolete line folding, a Content-Length next to Transfer-Encoding, two different lengths), because a
/// server that reads a request's boundaries differently from the client is how requests get smuggled.
/// </summary>
public sealed class RequestHead
{
    public const int MaxHeadBytes = 32 * 1024;
    public const int MaxHeaders = 100;

    public string Method { get; private set; } = "";
    /// <summary>The request target as sent (origin-form: path and query).</summary>
    public string RawTarget { get; private set; } = "";
    public string Protocol { get; private set; } = "";
    public List<KeyValuePair<string, string>> Headers { get; } = [];
    /// <summary>The body's length, -1 when chunked, 0 when none.</summary>
    public long ContentLength { get; private set; }
    public bool Chunked { get; private set; }
    public bool KeepAlive { get; private set; }
    public bool ExpectContinue { get; private set; }
    public int ErrorStatus { get; private set; }
    public string Error { get; private set; } = "";

    /// <summary>
    /// Parses the head at the start of <paramref name="input"/>; on <see cref="HeadStatus.Complete"/>,
    /// <paramref name="consumed"/> is its length including the blank line.
    /// </summary>
    public HeadStatus Parse(ReadOnlySpan<byte> input, out int consumed)
    {
        consumed = 0;
        int end = input.IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            // A bare LF ending the head would never be seen as complete: refuse it as soon as it shows.
            if (input.IndexOf("\n\n"u8) >= 0 || input.IndexOf("\n\r\n"u8) >= 0) return Fail(400, "line ends must be CRLF");
            return input.Length >= MaxHeadBytes ? Fail(431, "request head larger than 32 KiB") : HeadStatus.Incomplete;
        }
        if (end + 4 > MaxHeadBytes) return Fail(431, "request head larger than 32 KiB");
        Reset();
        ReadOnlySpan<byte> head = input[..(end + 2)]; // every line with its CRLF
        int eol = head.IndexOf("\r\n"u8);
        if (!ParseRequestLine(head[..eol])) return HeadStatus.Invalid;
        head = head[(eol + 2)..];
        bool hasHost = false, hasLength = false, hasEncoding = false;
        bool closeAsked = false, keepAliveAsked = false;
        while (!head.IsEmpty)
        {
            eol = head.IndexOf("\r\n"u8);
            ReadOnlySpan<byte> line = head[..eol];
            head = head[(eol + 2)..];
            if (line.IndexOfAny("\r\n\0"u8) >= 0) return Fail(400, "a header line holds CR, LF or NUL");
            if (Headers.Count == MaxHeaders) return Fail(431, $"more than {MaxHeaders} header fields");
            int colon = line.IndexOf((byte)':');
            if (colon <= 0) return Fail(400, line.Length > 0 && (line[0] == ' ' || line[0] == '\t') ? "obsolete line folding is not accepted" : "a header line without a name");
            ReadOnlySpan<byte> name = line[..colon];
            if (!IsToken(name)) return Fail(400, "a header name with characters outside a token (or space before the colon)");
            ReadOnlySpan<byte> value = line[(colon + 1)..].Trim(" \t"u8);
            foreach (byte b in value)
            {
                if (b < 0x20 && b != '\t' || b == 0x7F) return Fail(400, "a header value with control characters");
            }
            string n = KnownName(name);
            string v = Encoding.Latin1.GetString(value);
            Headers.Add(new(n, v));
            if (ReferenceEquals(n, HeaderNames.Host))
            {
                if (hasHost) return Fail(400, "more than one Host header");
                hasHost = true;
            }
            else if (ReferenceEquals(n, HeaderNames.ContentLength))
            {
                if (!Utf8Parser.TryParse(value, out long length, out int used) || used != value.Length || length < 0 || value[0] is (byte)'+' or (byte)'-')
                    return Fail(400, "Content-Length is not a number");
                if (hasLength && length != ContentLength) return Fail(400, "two different Content-Length headers");
                hasLength = true;
                ContentLength = length;
            }
            else if (ReferenceEquals(n, HeaderNames.TransferEncoding))
            {
                // Only "chunked", once: anything else has no length a reader can find.
                if (hasEncoding || !Ascii.EqualsIgnoreCase(value, "chunked"u8)) return Fail(501, "Transfer-Encoding other than chunked is not supported");
                hasEncoding = true;
            }
            else if (ReferenceEquals(n, HeaderNames.Connection))
            {
                foreach (Range part in value.Split((byte)','))
                {
                    ReadOnlySpan<byte> option = value[part].Trim(" \t"u8);
                    if (Ascii.EqualsIgnoreCase(option, "close"u8)) closeAsked = true;
                    else if (Ascii.EqualsIgnoreCase(option, "keep-alive"u8)) keepAliveAsked = true;
                }
            }
            else if (ReferenceEquals(n, HeaderNames.Expect))
            {
                if (!Ascii.EqualsIgnoreCase(value, "100-continue"u8)) return Fail(417, "only Expect: 100-continue is understood");
                ExpectContinue = true;
            }
        }
        bool http11 = ReferenceEquals(Protocol, Http11);
        if (http11 && !hasHost) return Fail(400, "HTTP/1.1 request without a Host header");
        if (hasLength && hasEncoding) return Fail(400, "both Content-Length and Transfer-Encoding");
        if (hasEncoding && !http11) return Fail(400, "Transfer-Encoding in an HTTP/1.0 request");
        Chunked = hasEncoding;
        if (Chunked) ContentLength = -1;
        KeepAlive = !closeAsked && (http11 || keepAliveAsked);
        consumed = end + 4;
        return HeadStatus.Complete;
    }

    private const string Http11 = "HTTP/1.1", Http10 = "HTTP/1.0";

    private bool ParseRequestLine(ReadOnlySpan<byte> line)
    {
        int sp1 = line.IndexOf((byte)' ');
        if (sp1 <= 0) return Fail(400, "the request line is not METHOD TARGET VERSION") == HeadStatus.Complete;
        ReadOnlySpan<byte> method = line[..sp1];
        if (!IsToken(method)) return Fail(400, "the method is not a token") == HeadStatus.Complete;
        ReadOnlySpan<byte> rest = line[(sp1 + 1)..];
        int sp2 = rest.IndexOf((byte)' ');
        if (sp2 <= 0) return Fail(400, "the request line is not METHOD TARGET VERSION") == HeadStatus.Complete;
        ReadOnlySpan<byte> target = rest[..sp2];
        ReadOnlySpan<byte> version = rest[(sp2 + 1)..];
        if (version.SequenceEqual("HTTP/1.1"u8)) Protocol = Http11;
        else if (version.SequenceEqual("HTTP/1.0"u8)) Protocol = Http10;
        else return Fail(version.StartsWith("HTTP/"u8) ? 505 : 400, "only HTTP/1.1 and HTTP/1.0 are served") == HeadStatus.Complete;
        // Origin-form only: a path from the root, visible ASCII, no fragment.
        if (target[0] != '/') return Fail(400, "the request target must be a path from /") == HeadStatus.Complete;
        foreach (byte b in target)
        {
            if (b <= 0x20 || b >= 0x7F || b == '#') return Fail(400, "the request target holds a character that must be percent-encoded") == HeadStatus.Complete;
        }
        Method = KnownMethod(method);
        RawTarget = Encoding.ASCII.GetString(target);
        return true;
    }

    private HeadStatus Fail(int status, string error)
    {
        ErrorStatus = status;
        Error = error;
        return HeadStatus.Invalid;
    }

    private void Reset()
    {
        Method = RawTarget = Protocol = Error = "";
        Headers.Clear();
        ContentLength = 0;
        Chunked = KeepAlive = ExpectContinue = false;
        ErrorStatus = 0;
    }

    // RFC 9110 token characters.
    private static bool IsToken(ReadOnlySpan<byte> s)
    {
        if (s.IsEmpty) return false;
        foreach (byte b in s)
        {
            if (b <= 0x20 || b >= 0x7F || "\"(),/:;<=>?@[\\]{}"u8.Contains(b)) return false;
        }
        return true;
    }

    private static string KnownMethod(ReadOnlySpan<byte> m) => m switch
    {
        _ when m.SequenceEqual("GET"u8) => "GET",
        _ when m.SequenceEqual("HEAD"u8) => "HEAD",
        _ when m.SequenceEqual("POST"u8) => "POST",
        _ when m.SequenceEqual("PUT"u8) => "PUT",
        _ when m.SequenceEqual("DELETE"u8) => "DELETE",
        _ when m.SequenceEqual("OPTIONS"u8) => "OPTIONS",
        _ => Encoding.ASCII.GetString(m),
    };

    // The names readers send on every request, as ASP.NET's shared strings (so the checks below compare by
    // reference and a request costs no string for them).
    private static readonly string[] Known =
    [
        HeaderNames.Host, HeaderNames.Range, "x-ms-range", "x-ms-version", "x-ms-date", "x-ms-client-request-id",
        HeaderNames.Authorization, HeaderNames.UserAgent, HeaderNames.Accept, HeaderNames.AcceptEncoding, HeaderNames.Connection,
        HeaderNames.ContentLength, HeaderNames.TransferEncoding, HeaderNames.ContentType, HeaderNames.Expect,
        HeaderNames.IfMatch, HeaderNames.IfNoneMatch, HeaderNames.IfModifiedSince, HeaderNames.IfUnmodifiedSince,
    ];

    private static string KnownName(ReadOnlySpan<byte> name)
    {
        foreach (string k in Known)
        {
            if (k.Length == name.Length && Ascii.EqualsIgnoreCase(name, k)) return k;
        }
        return Encoding.ASCII.GetString(name);
    }
}
