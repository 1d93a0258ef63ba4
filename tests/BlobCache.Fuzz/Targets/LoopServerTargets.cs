using System.Globalization;
using System.Text;
using BlobCache.Fuzz.Engine;
using BlobCache.Http;

namespace BlobCache.Fuzz.Targets;

/// <summary>
/// Request heads through the event-loop server's parser (<see cref="RequestHead.Parse"/>), as bytes from a client.
/// A head it accepts must be one a strict reader agrees with: it ends at the first blank line, holds no CR or LF
/// inside a field, has one framing (a length or chunked, never both), and parses to the same request again when
/// written back out. A head it refuses gets a 4xx/5xx status the server can send.
/// </summary>
public sealed class RequestHeadTarget : FuzzTarget
{
    public override string Name => "http-head";

    public override byte[] Generate(Random random)
    {
        var sb = new StringBuilder();
        string method = random.Next(8) switch { 0 => "HEAD", 1 => "POST", 2 => "G ET", 3 => "OPTIONS", _ => "GET" };
        string target = random.Next(6) switch
        {
            0 => "/devstoreaccount1/data/" + Uri.EscapeDataString(UdpFramesTarget.Text(random, 40)),
            1 => "/devstoreaccount1/data?restype=container&comp=list",
            2 => "/metrics",
            3 => "/a%2Fb/%C3%A9%zz",
            _ => "/devstoreaccount1/data/shard-" + random.Next(1000) + ".bin",
        };
        string version = random.Next(10) switch { 0 => "HTTP/1.0", 1 => "HTTP/2.0", _ => "HTTP/1.1" };
        sb.Append(method).Append(' ').Append(target).Append(' ').Append(version).Append("\r\n");
        if (random.Next(10) != 0) sb.Append("Host: 127.0.0.1:7480\r\n");
        int headers = random.Next(8);
        for (int i = 0; i < headers; i++)
        {
            sb.Append(random.Next(9) switch
            {
                0 => $"Range: bytes={random.Next(1 << 20)}-{random.Next(1 << 22)}",
                1 => $"x-ms-range: bytes={random.Next(1 << 20)}-",
                2 => $"Content-Length: {(random.Next(4) == 0 ? "-1" : random.Next(5000).ToString(CultureInfo.InvariantCulture))}",
                3 => "Transfer-Encoding: chunked",
                4 => "Connection: " + (random.Next(2) == 0 ? "close" : "keep-alive, Upgrade"),
                5 => "Expect: 100-continue",
                6 => "x-ms-version: 2021-08-06",
                7 => " folded continuation",
                _ => "X-Custom-" + random.Next(100) + ": " + UdpFramesTarget.Text(random, 30),
            }).Append("\r\n");
        }
        sb.Append("\r\n");
        if (random.Next(4) == 0) sb.Append("GET /next HTTP/1.1\r\nHost: x\r\n\r\n"); // a pipelined request after it
        return Encoding.Latin1.GetBytes(sb.ToString());
    }

    public override object? Run(object prepared)
    {
        byte[] input = (byte[])prepared;
        var head = new RequestHead();
        HeadStatus status = head.Parse(input, out int consumed);
        // A refused head must carry a status the server can answer with (a wrong one here counts as a crash).
        if (status == HeadStatus.Invalid && head.ErrorStatus is not (400 or 417 or 431 or 501 or 505))
            throw new InvalidOperationException($"refused with status {head.ErrorStatus}");
        if (status == HeadStatus.Incomplete && input.AsSpan().IndexOf("\r\n\r\n"u8) >= 0)
            throw new InvalidOperationException("a head with a blank line was called incomplete");
        return status == HeadStatus.Complete ? (head, consumed) : null; // null: refused or waiting for more
    }

    public override void Check(byte[] input, object? result)
    {
        if (result is not (RequestHead head, int consumed)) return;
        int blank = input.AsSpan().IndexOf("\r\n\r\n"u8);
        if (consumed != blank + 4) throw Violated($"consumed {consumed} bytes, the first blank line ends at {blank + 4}");
        if (head.RawTarget.Length == 0 || head.RawTarget[0] != '/') throw Violated($"target '{head.RawTarget}'");
        foreach (KeyValuePair<string, string> h in head.Headers)
        {
            if (h.Key.AsSpan().IndexOfAny("\r\n:") >= 0 || h.Value.AsSpan().IndexOfAny('\r', '\n') >= 0) throw Violated($"field {h.Key}: {h.Value}");
        }
        if (head.Chunked != (head.ContentLength == -1) || head.ContentLength < -1) throw Violated($"chunked {head.Chunked} with length {head.ContentLength}");
        // Written back out, the head parses to the same request.
        var sb = new StringBuilder($"{head.Method} {head.RawTarget} {head.Protocol}\r\n");
        foreach (KeyValuePair<string, string> h in head.Headers) sb.Append(h.Key).Append(": ").Append(h.Value).Append("\r\n");
        byte[] again = Encoding.Latin1.GetBytes(sb.Append("\r\n").ToString());
        var reparsed = new RequestHead();
        if (reparsed.Parse(again, out _) != HeadStatus.Complete || reparsed.Method != head.Method || reparsed.RawTarget != head.RawTarget
            || reparsed.ContentLength != head.ContentLength || reparsed.KeepAlive != head.KeepAlive || reparsed.Headers.Count != head.Headers.Count)
            throw Violated($"written back, the head parses differently ({reparsed.Error})");
        string path = head.RawTarget.Split('?')[0];
        if (LoopExchange.DecodePath(path).Contains('/', StringComparison.Ordinal) is false) throw Violated("the decoded path lost its slashes");
    }

    public override long AllocationBound(int inputBytes) => 8L * inputBytes + 16 * 1024;

    public override int MaxInputBytes => 40 * 1024;

    public override IReadOnlyList<byte[]> Dictionary =>
    [
        .. new[] { "\r\n", "\n", "\r", "\r\n\r\n", ": ", ":", " ", "\t", "Content-Length: ", "Transfer-Encoding: chunked\r\n", "Host: a\r\n", "HTTP/1.1", "HTTP/1.0", "%", "%2F", "\0", "\u007f", "99999999999999999999" }
            .Select(Encoding.Latin1.GetBytes),
    ];
}

/// <summary>
/// Chunked request bodies through <see cref="ChunkedBody"/>: the first input byte says where to split the rest, and
/// decoding the two pieces one after the other must give what decoding the whole does (the bytes of a body arrive in
/// any split), never more than the size bound; dropping the bytes instead of keeping them (a GET's body) must read
/// the same framing.
/// </summary>
public sealed class ChunkedBodyTarget : FuzzTarget
{
    private const int MaxBody = 4096;

    public override string Name => "http-chunked";

    public override byte[] Generate(Random random)
    {
        var sb = new StringBuilder();
        int chunks = random.Next(5);
        for (int i = 0; i < chunks; i++)
        {
            int size = random.Next(10) == 0 ? random.Next(5000) : random.Next(200);
            sb.Append(size.ToString(random.Next(2) == 0 ? "x" : "X", CultureInfo.InvariantCulture));
            if (random.Next(5) == 0) sb.Append(";ext=1");
            sb.Append("\r\n").Append(new string('a', size)).Append("\r\n");
        }
        sb.Append("0\r\n");
        if (random.Next(4) == 0) sb.Append("Trailer: x\r\n");
        sb.Append("\r\n");
        if (random.Next(4) == 0) sb.Append("GET / HTTP/1.1\r\n");
        byte[] body = Encoding.ASCII.GetBytes(sb.ToString());
        return [(byte)random.Next(256), .. body];
    }

    public override object? Run(object prepared)
    {
        byte[] input = (byte[])prepared;
        if (input.Length == 0) return null;
        ReadOnlySpan<byte> body = input.AsSpan(1);
        int split = Math.Min(body.Length, input[0] * Math.Max(1, body.Length) / 255);
        var output = new RequestBody();
        var decoder = new ChunkedBody();
        BodyStatus all, first, second, dropped;
        int usedAll, used1, used2 = 0, usedDropped, piecesLength, droppedLength;
        byte[] whole, pieces;
        try
        {
            decoder.Reset();
            output.Start(0, discard: false);
            all = decoder.Decode(body, output, MaxBody, out usedAll);
            whole = output.Kept.ToArray();
            decoder.Reset();
            output.Start(0, discard: false); // unmaps the first body
            first = decoder.Decode(body[..split], output, MaxBody, out used1);
            second = first;
            if (first == BodyStatus.NeedMore) second = decoder.Decode(body[split..], output, MaxBody, out used2);
            pieces = output.Kept.ToArray();
            piecesLength = output.Length;
            // Dropping the bytes (a GET's body) must read the same framing and count the same length, keeping nothing.
            decoder.Reset();
            output.Start(0, discard: true);
            dropped = decoder.Decode(body, output, MaxBody, out usedDropped);
            droppedLength = output.Length;
            if (!output.Kept.IsEmpty) throw new InvalidOperationException("a dropped body kept bytes");
        }
        finally
        {
            output.Clear();
        }
        if (dropped != all || usedDropped != usedAll || droppedLength != whole.Length)
            throw new InvalidOperationException($"kept: {all} after {usedAll} bytes for {whole.Length}; dropped: {dropped} after {usedDropped} for {droppedLength}");
        // Refused or unfinished bodies must be so however the bytes were split (a mismatch counts as a crash).
        if (all != BodyStatus.Done)
        {
            if (second != all) throw new InvalidOperationException($"whole input {all}, split {second} (first piece {first})");
            return null;
        }
        if (piecesLength != pieces.Length) throw new InvalidOperationException($"length {piecesLength} for {pieces.Length} kept bytes");
        return (all, usedAll, whole, second, used1 + used2, pieces, first);
    }

    public override void Check(byte[] input, object? result)
    {
        if (result is null) return;
        (BodyStatus all, int usedAll, byte[] whole, BodyStatus split, int usedSplit, byte[] pieces, BodyStatus first) =
            ((BodyStatus, int, byte[], BodyStatus, int, byte[], BodyStatus))result;
        if (whole.Length > MaxBody || pieces.Length > MaxBody) throw Violated($"decoded {whole.Length} / {pieces.Length} bytes past the bound {MaxBody}");
        if (all != split) throw Violated($"whole input {all}, split {split} (first piece {first})");
        if (all == BodyStatus.Done && (usedAll != usedSplit || !whole.AsSpan().SequenceEqual(pieces)))
            throw Violated($"whole input used {usedAll} bytes for {whole.Length}, split used {usedSplit} for {pieces.Length}");
    }

    public override IReadOnlyList<byte[]> Dictionary =>
    [
        .. new[] { "\r\n", "0\r\n\r\n", ";", "\n", "ffffffffffffffff", "10000000", "0", "a", "F", " ", "\t" }.Select(Encoding.ASCII.GetBytes),
    ];
}
