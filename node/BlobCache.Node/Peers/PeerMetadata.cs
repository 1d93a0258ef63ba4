using BlobCache.Node.Origin;

namespace BlobCache.Node.Peers;

/// <summary>What a metadata owner knows of a blob, as a peer's answer carries it.</summary>
public enum PeerMetadataKind : byte
{
    /// <summary>The blob exists; <see cref="PeerMetadata.Info"/> holds its properties.</summary>
    Found = 1,
    /// <summary>No such blob (its container exists).</summary>
    NoBlob = 2,
    /// <summary>No such container: Blob answers 404 ContainerNotFound, and so must the asker.</summary>
    NoContainer = 3,
}

/// <summary>
/// A peer's answer about one blob, and how long ago Blob gave it: the asker keeps it only for the rest of its TTL,
/// so an answer passed on through owners is never older than one TTL, however many nodes it went through.
/// </summary>
public readonly record struct PeerMetadata(PeerMetadataKind Kind, BlobInfo? Info, TimeSpan Age)
{
    /// <summary>Largest encoding a decoder takes: Blob caps a blob's user metadata at 8 KiB; names and headers fit in the rest.</summary>
    public const int MaxEncodedBytes = 64 * 1024;

    /// <summary>Oldest answer worth sending: longer than any TTL a node takes (an hour), so one age has one encoding.</summary>
    public const long MaxAgeMs = 24L * 3600 * 1000;

    /// <summary>
    /// Writes the answer; null when it does not fit <see cref="MaxEncodedBytes"/> or a string its length field (the
    /// asker then asks elsewhere).
    /// <code>
    /// u8 kind | i64 age ms | when Found: i64 length | i64 last-modified ticks (UTC) | str etag | str content-type
    ///   | u8 md5 length + bytes | str encoding, language, cache-control, disposition | i64 created ticks (0: none)
    ///   | str access tier | u8 flags (1 tier inferred, 2 server encrypted) | u16 count × (str name | str value)
    /// str: u16 length (0xFFFF: null) | UTF-8; integers little-endian
    /// </code>
    /// </summary>
    public byte[]? Encode()
    {
        var w = new AnswerWire.Writer(1024);
        w.Byte((byte)Kind);
        w.Long((long)Age.TotalMilliseconds);
        if (Kind == PeerMetadataKind.Found)
        {
            BlobInfo info = Info ?? throw new InvalidOperationException("a found blob without properties");
            BlobDetails d = info.Details ?? new BlobDetails();
            w.Long(info.Length);
            w.Long(info.LastModified.UtcTicks);
            w.Text(info.ETag);
            w.Text(info.ContentType);
            byte[] md5 = info.ContentMd5 ?? [];
            if (md5.Length > 64) return null;
            w.Byte((byte)md5.Length);
            w.Bytes(md5);
            w.Text(d.ContentEncoding);
            w.Text(d.ContentLanguage);
            w.Text(d.CacheControl);
            w.Text(d.ContentDisposition);
            w.Long(d.CreatedOn?.UtcTicks ?? 0);
            w.Text(d.AccessTier);
            w.Byte((byte)((d.AccessTierInferred ? 1 : 0) | (d.ServerEncrypted ? 2 : 0)));
            int count = d.Metadata?.Count ?? 0;
            if (count > ushort.MaxValue) return null;
            w.UShort((ushort)count);
            foreach ((string name, string value) in d.Metadata ?? new Dictionary<string, string>())
            {
                w.Text(name);
                w.Text(value);
            }
        }
        return w.ToArray(MaxEncodedBytes);
    }

    /// <summary>Null when <paramref name="from"/> is exactly one well-formed answer, else what is wrong with it. Never throws.</summary>
    public static string? TryDecode(ReadOnlySpan<byte> from, out PeerMetadata answer)
    {
        answer = default;
        if (from.Length > MaxEncodedBytes) return $"an answer of {from.Length} bytes";
        var r = new AnswerWire.Reader(from);
        if (!r.Byte(out byte kind) || !r.Long(out long ageMs)) return "a truncated header";
        if (kind is < 1 or > 3) return $"kind {kind}";
        if (ageMs is < 0 or > MaxAgeMs) return $"an age of {ageMs} ms";
        if (kind != (byte)PeerMetadataKind.Found)
        {
            answer = new PeerMetadata((PeerMetadataKind)kind, null, TimeSpan.FromMilliseconds(ageMs));
            return r.AtEnd ? null : "trailing bytes";
        }
        if (!r.Long(out long length) || !r.Long(out long modifiedTicks) || !r.Text(out string? etag) || !r.Text(out string? contentType)) return "truncated properties";
        if (length < 0) return $"a negative length ({length})";
        if (string.IsNullOrEmpty(etag) || etag.Length > 256) return "a bad etag";
        if (contentType is null) return "no content type";
        if (!ValidTicks(modifiedTicks)) return "a bad last-modified time";
        if (!r.Byte(out byte md5Length) || md5Length > 64 || !r.Bytes(md5Length, out byte[] md5)) return "a bad content-md5";
        if (!r.Text(out string? encoding) || !r.Text(out string? language) || !r.Text(out string? cacheControl) || !r.Text(out string? disposition)) return "truncated content headers";
        if (!r.Long(out long createdTicks) || (createdTicks != 0 && !ValidTicks(createdTicks))) return "a bad creation time";
        if (!r.Text(out string? tier) || !r.Byte(out byte flags) || (flags & ~3) != 0) return "a bad access tier";
        if (!r.UShort(out ushort count)) return "no metadata count";
        Dictionary<string, string>? metadata = count == 0 ? null : new Dictionary<string, string>(Math.Min((int)count, 64), StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < count; i++)
        {
            if (!r.Text(out string? name) || !r.Text(out string? value) || string.IsNullOrEmpty(name) || value is null) return "a bad metadata pair";
            if (!metadata!.TryAdd(name, value)) return $"metadata '{name}' twice";
        }
        if (!r.AtEnd) return "trailing bytes";
        var details = new BlobDetails(encoding, language, cacheControl, disposition, metadata,
            createdTicks == 0 ? null : new DateTimeOffset(createdTicks, TimeSpan.Zero), tier, (flags & 1) != 0, (flags & 2) != 0);
        var info = new BlobInfo(length, etag, new DateTimeOffset(modifiedTicks, TimeSpan.Zero), contentType, md5Length == 0 ? null : md5, details);
        answer = new PeerMetadata(PeerMetadataKind.Found, info, TimeSpan.FromMilliseconds(ageMs));
        return null;
    }

    private static bool ValidTicks(long ticks) => ticks >= DateTimeOffset.MinValue.UtcTicks && ticks <= DateTimeOffset.MaxValue.UtcTicks;
}
