using System.Text;

namespace BlobCache.Protocol.Gossip;

// Encoder-side checks: refuse to write anything the decoder would reject, before writing a byte.
public static partial class GossipCodec
{
    // Throws on lone surrogates instead of silently writing U+FFFD (which would not round-trip).
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static void Validate(GossipMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        RequireId(message.SourceId, nameof(message.SourceId));
        switch (message)
        {
            case Ping p:
                RequireId(p.TargetId, nameof(p.TargetId));
                RequireString(p.SourceAddress, nameof(p.SourceAddress));
                break;
            case IndirectPing ip:
                RequireId(ip.TargetId, nameof(ip.TargetId));
                RequireString(ip.TargetAddress, nameof(ip.TargetAddress));
                RequireString(ip.SourceAddress, nameof(ip.SourceAddress));
                break;
            case Ack or Nack or Gossip:
                break;
            case PushPull pp:
                RequireString(pp.SourceAddress, nameof(pp.SourceAddress));
                if (pp.Members is null) throw new ArgumentException("PushPull.Members is null.", nameof(message));
                for (int i = 0; i < pp.Members.Count; i++) ValidateMember(pp.Members[i], i);
                if (pp.Digest is null || !IsDigestSize(pp.Digest.Length))
                    throw new ArgumentException($"PushPull.Digest must have 0 or a power of two buckets, at most {WireLimits.MaxDigestBuckets}.", nameof(message));
                break;
            default:
                throw new ArgumentException($"Message type {message.GetType().Name} has no wire format.", nameof(message));
        }

        if (message.Updates is null) throw new ArgumentException("Updates is null.", nameof(message));
        for (int i = 0; i < message.Updates.Count; i++) ValidateUpdate(message.Updates[i], i);
    }

    private static void ValidateUpdate(in MemberUpdate update, int index)
    {
        if (update.Kind is not (UpdateKind.Alive or UpdateKind.Suspect or UpdateKind.Dead))
            throw new ArgumentException($"Update {index} has unknown kind {(int)update.Kind}.", nameof(update));
        RequireId(update.MemberId, "MemberId", Updates, index);
        if (update.Kind == UpdateKind.Alive)
        {
            // An Alive rumour is the member's own statement, so From may be empty.
            RequireString(update.From, "From", Updates, index);
            if (update.Meta is null) throw new ArgumentException($"Alive update {index} for '{update.MemberId}' has no meta.", nameof(update));
            ValidateMeta(update.Meta, Updates, index);
            if (update.Meta.Id != update.MemberId)
                throw new ArgumentException($"Update {index}: meta id '{update.Meta.Id}' differs from member id '{update.MemberId}'.", nameof(update));
        }
        else
        {
            RequireId(update.From, "From", Updates, index);
        }
    }

    private static void ValidateMember(in MemberRecord member, int index)
    {
        if (member.Meta is null) throw new ArgumentException($"Members[{index}] has no meta.", nameof(member));
        ValidateMeta(member.Meta, Members, index);
        if (member.State is not (MemberState.Alive or MemberState.Suspect or MemberState.Dead or MemberState.Left))
            throw new ArgumentException($"Members[{index}] ('{member.Meta.Id}') has state {member.State}, which is not sent on the wire.", nameof(member));
    }

    private static void ValidateMeta(MemberMeta meta, string owner, int index)
    {
        RequireId(meta.Id, "Meta.Id", owner, index);
        RequireString(meta.GossipAddress, "Meta.GossipAddress", owner, index);
        RequireString(meta.GrpcAddress, "Meta.GrpcAddress", owner, index);
        RequireString(meta.UdpAddress, "Meta.UdpAddress", owner, index);
        RequireString(meta.Region, "Meta.Region", owner, index);
        RequireString(meta.Zone, "Meta.Zone", owner, index);
    }

    private const string Updates = nameof(GossipMessage.Updates);
    private const string Members = nameof(PushPull.Members);

    private static void RequireId(string? value, string field, string? owner = null, int index = -1)
    {
        if (RequireString(value, field, owner, index) == 0) throw new ArgumentException($"{Name(field, owner, index)} is empty.", field);
    }

    /// <returns>The UTF-8 length.</returns>
    private static int RequireString(string? value, string field, string? owner = null, int index = -1)
    {
        if (value is null) throw new ArgumentException($"{Name(field, owner, index)} is null.", field);
        int bytes;
        try
        {
            bytes = StrictUtf8.GetByteCount(value);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException($"{Name(field, owner, index)} is not valid UTF-16 (lone surrogate).", field, e);
        }
        if (bytes > WireLimits.MaxStringBytes)
            throw new ArgumentException($"{Name(field, owner, index)} is {bytes} UTF-8 bytes; the limit is {WireLimits.MaxStringBytes}.", field);
        return bytes;
    }

    // Only formatted when throwing, so validating a valid message allocates nothing.
    private static string Name(string field, string? owner, int index) => owner is null ? field : $"{owner}[{index}].{field}";
}
