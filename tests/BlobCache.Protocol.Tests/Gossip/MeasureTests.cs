using BlobCache.Protocol.Gossip;

namespace BlobCache.Protocol.Tests.Gossip;

public sealed class MeasureTests
{
    [Fact]
    public void Measure_is_exactly_the_encoded_length()
    {
        var data = new GossipTestData(seed: 21);
        for (int i = 0; i < 1000; i++)
        {
            GossipMessage message = data.Message();
            Assert.Equal(GossipCodec.Encode(message).Length, GossipCodec.Measure(message));
        }
    }

    [Fact]
    public void Message_size_is_the_empty_message_plus_header_growth_plus_each_update()
    {
        var data = new GossipTestData(seed: 22);
        for (int i = 0; i < 1000; i++)
        {
            GossipMessage message = data.Message();
            int updates = message.Updates.Sum(u => GossipCodec.MeasureUpdate(u));
            int expected = GossipCodec.MeasureWithoutUpdates(message)
                - GossipCodec.MeasureArrayHeader(0) + GossipCodec.MeasureArrayHeader(message.Updates.Count) + updates;
            Assert.Equal(expected, GossipCodec.Measure(message));
            Assert.Equal(GossipCodec.Encode(WithoutUpdates(message)).Length, GossipCodec.MeasureWithoutUpdates(message));
            // The budget rule the membership code relies on: reserving the largest header is always enough.
            Assert.True(GossipCodec.Measure(message) <= GossipCodec.MeasureWithoutUpdates(message) + GossipCodec.UpdatesArrayHeaderMaxBytes + updates);
        }
    }

    [Fact]
    public void Updates_chosen_to_fill_the_room_never_overflow_the_packet()
    {
        var data = new GossipTestData(seed: 23);
        foreach (int maxPacket in new[] { 300, 1400, 8192, 65_000 })
        {
            for (int i = 0; i < 40; i++)
            {
                // Push-pull carries no rumours; the other kinds are filled like SwimNode fills them.
                GossipMessage empty = WithoutUpdates(data.Message((MessageKind)(1 + i % 5)));
                int room = maxPacket - GossipCodec.Measure(empty) - GossipCodec.UpdatesArrayHeaderMaxBytes;
                if (room < 0) continue; // long test strings: the bare message alone is over a small budget
                var chosen = new List<MemberUpdate>();
                int smallestLeftOut = int.MaxValue;
                foreach (MemberUpdate update in data.Updates(300))
                {
                    int size = GossipCodec.MeasureUpdate(update);
                    if (size > room)
                    {
                        smallestLeftOut = Math.Min(smallestLeftOut, size);
                        continue;
                    }
                    room -= size;
                    chosen.Add(update);
                }
                byte[] packet = GossipCodec.Encode(WithUpdates(empty, chosen));
                Assert.True(packet.Length <= maxPacket, $"{packet.Length} bytes overflow a budget of {maxPacket}");
                // And the budget is not wasted: what was left out would not have fitted.
                if (smallestLeftOut != int.MaxValue) Assert.True(packet.Length > maxPacket - GossipCodec.UpdatesArrayHeaderMaxBytes - smallestLeftOut);
            }
        }
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(15, 1)]
    [InlineData(16, 3)]
    [InlineData(65_535, 3)]
    [InlineData(65_536, 5)]
    [InlineData(int.MaxValue, GossipCodec.UpdatesArrayHeaderMaxBytes)]
    public void Array_header_sizes_follow_MessagePack(int count, int bytes) =>
        Assert.Equal(bytes, GossipCodec.MeasureArrayHeader(count));

    [Fact]
    public void Array_header_measure_matches_the_encoding_at_the_boundaries()
    {
        foreach (int count in new[] { 15, 16, 70_000 })
        {
            GossipMessage message = new BlobCache.Protocol.Gossip.Gossip
            {
                SourceId = "s",
                Updates = Enumerable.Repeat(new MemberUpdate(UpdateKind.Suspect, "m", 1, "s", null), count).ToArray(),
            };
            Assert.Equal(GossipCodec.Encode(message).Length, GossipCodec.Measure(message));
        }
    }

    [Fact]
    public void Measuring_allocates_nothing()
    {
        GossipMessage message = new GossipTestData(seed: 24).Message(MessageKind.PushPull, updateCount: 30, memberCount: 30);
        GossipCodec.Measure(message);
        long before = GC.GetAllocatedBytesForCurrentThread();
        int total = 0;
        for (int i = 0; i < 100; i++) total += GossipCodec.Measure(message) + GossipCodec.MeasureUpdate(message.Updates[i % 30]);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(total > 0);
    }

    internal static GossipMessage WithoutUpdates(GossipMessage message) => WithUpdates(message, []);

    internal static GossipMessage WithUpdates(GossipMessage message, IReadOnlyList<MemberUpdate> updates) => message switch
    {
        Ping p => new Ping { SourceId = p.SourceId, Seq = p.Seq, TargetId = p.TargetId, SourceAddress = p.SourceAddress, Updates = updates },
        IndirectPing p => new IndirectPing
        {
            SourceId = p.SourceId, Seq = p.Seq, TargetId = p.TargetId, TargetAddress = p.TargetAddress,
            SourceAddress = p.SourceAddress, WantNack = p.WantNack, Updates = updates,
        },
        Ack a => new Ack { SourceId = a.SourceId, Seq = a.Seq, Updates = updates },
        Nack n => new Nack { SourceId = n.SourceId, Seq = n.Seq, Updates = updates },
        BlobCache.Protocol.Gossip.Gossip g => new BlobCache.Protocol.Gossip.Gossip { SourceId = g.SourceId, Updates = updates },
        PushPull p => new PushPull { SourceId = p.SourceId, SourceAddress = p.SourceAddress, Join = p.Join, IsReply = p.IsReply, Members = p.Members, Updates = updates, Digest = p.Digest },
        _ => throw new ArgumentOutOfRangeException(nameof(message)),
    };
}
