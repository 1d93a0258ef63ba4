using System.Text;
using BlobCache.Protocol.Gossip;

namespace BlobCache.Protocol.Tests.Gossip;

/// <summary>Seeded generator of valid gossip messages of every kind, with awkward strings and sizes mixed in.</summary>
public sealed class GossipTestData(int seed)
{
    private readonly Random _random = new(seed);

    // 1-, 2-, 3- and 4-byte UTF-8 characters (the last as a surrogate pair).
    private static readonly string[] Alphabet = ["a", "Z", "7", "-", ".", ":", "é", "ß", "Ж", "€", "漢", "語", "😀", "🧊"];

    public static IEnumerable<MessageKind> AllKinds => Enum.GetValues<MessageKind>();

    public GossipMessage Message() => Message(AllKinds.ElementAt(_random.Next(6)));

    public GossipMessage Message(MessageKind kind, int? updateCount = null, int? memberCount = null)
    {
        MemberUpdate[] updates = Updates(updateCount ?? UpdateCount());
        return kind switch
        {
            MessageKind.Ping => new Ping { SourceId = Id(), Seq = UInt(), TargetId = Id(), SourceAddress = Text(), Updates = updates },
            MessageKind.IndirectPing => new IndirectPing
            {
                SourceId = Id(), Seq = UInt(), TargetId = Id(), TargetAddress = Text(), SourceAddress = Text(),
                WantNack = _random.Next(2) == 0, Updates = updates,
            },
            MessageKind.Ack => new Ack { SourceId = Id(), Seq = UInt(), Updates = updates },
            MessageKind.Nack => new Nack { SourceId = Id(), Seq = UInt(), Updates = updates },
            MessageKind.Gossip => new BlobCache.Protocol.Gossip.Gossip { SourceId = Id(), Updates = updates },
            MessageKind.PushPull => new PushPull
            {
                SourceId = Id(), SourceAddress = Text(), Join = _random.Next(2) == 0, IsReply = _random.Next(2) == 0,
                Members = Members(memberCount ?? _random.Next(20)), Updates = updates, Digest = Digest(),
            },
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }

    public MemberUpdate[] Updates(int count)
    {
        var updates = new MemberUpdate[count];
        for (int i = 0; i < count; i++) updates[i] = Update();
        return updates;
    }

    public MemberUpdate Update()
    {
        var kind = (UpdateKind)(1 + _random.Next(3));
        string member = Id();
        return kind == UpdateKind.Alive
            ? new MemberUpdate(kind, member, UInt(), _random.Next(4) == 0 ? "" : member, Meta(member))
            : new MemberUpdate(kind, member, UInt(), Id(), null);
    }

    public MemberRecord[] Members(int count)
    {
        var members = new MemberRecord[count];
        for (int i = 0; i < count; i++) members[i] = new MemberRecord(Meta(Id()), UInt(), (MemberState)(1 + _random.Next(4)));
        return members;
    }

    /// <summary>No digest, or one of 1, 2, 64 or 4,096 buckets (bin8 and bin16 headers).</summary>
    public uint[] Digest()
    {
        int buckets = (int)Pick(0, 1, 2, 64, 4096);
        var digest = new uint[buckets];
        for (int i = 0; i < buckets; i++) digest[i] = UInt();
        return digest;
    }

    public MemberMeta Meta(string id) =>
        new(id, Text(), Text(), Text(), Text(), Text(), (ushort)Pick(0, 1, 100, 127, 128, 255, 256, ushort.MaxValue, _random.Next(ushort.MaxValue + 1)), UInt());

    /// <summary>Unsigned values around every MessagePack encoding boundary, plus random ones.</summary>
    public uint UInt() => (uint)Pick(0, 1, 127, 128, 255, 256, 65535, 65536, uint.MaxValue, _random.Next(), _random.Next(200));

    /// <summary>A non-empty id: short, long, unicode or exactly at the byte limit.</summary>
    public string Id()
    {
        string id = Text();
        return id.Length == 0 ? "x" : id;
    }

    /// <summary>A string that may be empty, unicode, near the str8 boundary or exactly <see cref="WireLimits.MaxStringBytes"/> UTF-8 bytes.</summary>
    public string Text() => _random.Next(10) switch
    {
        0 => "",
        1 => StringOfBytes(WireLimits.MaxStringBytes),
        2 => StringOfBytes(31 + _random.Next(3)),
        3 => StringOfBytes(1 + _random.Next(WireLimits.MaxStringBytes)),
        _ => $"node-{_random.Next(100_000):D5}:{_random.Next(65536)}",
    };

    /// <summary>Random characters from the alphabet, padded with ASCII to exactly <paramref name="bytes"/> UTF-8 bytes.</summary>
    public string StringOfBytes(int bytes)
    {
        var text = new StringBuilder();
        int used = 0;
        while (true)
        {
            string next = Alphabet[_random.Next(Alphabet.Length)];
            int size = Encoding.UTF8.GetByteCount(next);
            if (used + size > bytes) break;
            text.Append(next);
            used += size;
        }
        text.Append('p', bytes - used);
        return text.ToString();
    }

    private long Pick(params long[] choices) => choices[_random.Next(choices.Length)];

    private int UpdateCount() => _random.Next(6) switch
    {
        0 => 0,
        1 => 1,
        2 => 15 + _random.Next(3), // fixarray/array16 boundary
        3 => _random.Next(60),
        _ => _random.Next(5),
    };
}
