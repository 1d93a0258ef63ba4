using System.Buffers.Binary;
using BlobCache.Protocol.Gossip;
using Xunit.Abstractions;

namespace BlobCache.Protocol.Tests.Gossip;

public sealed class FuzzTests(ITestOutputHelper output)
{
    private const int DefaultIterations = 200_000;
    private const int DefaultSeed = 20_261_125;

    [Fact]
    public void Mutated_packets_never_throw()
    {
        int iterations = EnvInt("BLOBCACHE_FUZZ_ITERATIONS", DefaultIterations);
        int seed = EnvInt("BLOBCACHE_FUZZ_SEED", DefaultSeed);
        var random = new Random(seed);
        byte[][] corpus = Corpus(seed);
        // Small limits too, so the limit checks are fuzzed as well as the parser.
        WireLimits[] limits = [WireLimits.Default, new() { MaxPacketBytes = 600, MaxPushPullBytes = 4000, MaxUpdates = 8, MaxPushPullMembers = 8 }];
        int accepted = 0;

        for (int i = 0; i < iterations; i++)
        {
            byte[] packet = Mutate(corpus[random.Next(corpus.Length)], random);
            WireLimits limit = limits[i & 1];
            bool ok;
            GossipMessage? message;
            string? error;
            try
            {
                ok = GossipCodec.TryDecode(packet, limit, out message, out error);
            }
            catch (Exception e)
            {
                Assert.Fail($"TryDecode threw on iteration {i} (seed {seed}): {e}\npacket: {Convert.ToHexString(packet)}");
                throw;
            }
            if (!ok)
            {
                // A decoder fault is an exception the up-front checks missed: as much a bug as one that escapes.
                if (error!.StartsWith("decoder fault", StringComparison.Ordinal))
                    Assert.Fail($"seed {seed} iteration {i}: {error}\npacket: {Convert.ToHexString(packet)}");
                continue;
            }
            accepted++;
            byte[] again = GossipCodec.Encode(message!);
            Assert.True(GossipCodec.TryDecode(again, WireLimits.Default, out GossipMessage? reread, out error), error);
            GossipAssert.Equivalent(message!, reread);
        }
        output.WriteLine($"{iterations} mutated packets (seed {seed}), {accepted} still decoded, no exceptions");
        Assert.True(accepted > 0, "no mutation ever decoded: the corpus or the mutator is broken");
    }

    private static byte[][] Corpus(int seed)
    {
        // Mostly small packets (datagram-sized, so mutations hit every structure often), a few large ones.
        var data = new GossipTestData(seed);
        var packets = new List<byte[]>();
        foreach (MessageKind kind in GossipTestData.AllKinds)
        {
            for (int i = 0; i < 12; i++) packets.Add(GossipCodec.Encode(data.Message(kind, updateCount: i % 4, memberCount: i % 3)));
            packets.Add(GossipCodec.Encode(data.Message(kind, updateCount: 8, memberCount: 6)));
        }
        return [.. packets];
    }

    private static byte[] Mutate(byte[] original, Random random)
    {
        byte[] packet = (byte[])original.Clone();
        int rounds = 1 + random.Next(3);
        for (int r = 0; r < rounds; r++) packet = MutateOnce(packet, random);
        return packet;
    }

    private static byte[] MutateOnce(byte[] packet, Random random)
    {
        if (packet.Length == 0) return [(byte)random.Next(256)];
        int at = random.Next(packet.Length);
        switch (random.Next(8))
        {
            case 0: // bit flip
                packet[at] ^= (byte)(1 << random.Next(8));
                return packet;
            case 1: // random byte
                packet[at] = (byte)random.Next(256);
                return packet;
            case 2: // truncation
                return packet[..at];
            case 3: // insertion
                return [.. packet[..at], (byte)random.Next(256), .. packet[at..]];
            case 4: // deletion
                return [.. packet[..at], .. packet[(at + 1)..]];
            case 5: // length-like field corruption: a MessagePack length code followed by an extreme length
                byte[] codes = [0xD9, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, 0xC4, 0xC6, 0xC9, 0x9F, 0xBF];
                packet[at] = codes[random.Next(codes.Length)];
                if (at + 5 <= packet.Length) BinaryPrimitives.WriteUInt32BigEndian(packet.AsSpan(at + 1), random.Next(2) == 0 ? uint.MaxValue : (uint)random.Next(300));
                return packet;
            case 6: // interesting value over a byte
                byte[] values = [0x00, 0x7F, 0x80, 0x90, 0xA0, 0xC0, 0xC1, 0xC2, 0xCC, 0xCF, 0xD3, 0xFF];
                packet[at] = values[random.Next(values.Length)];
                return packet;
            default: // random tail
                byte[] tail = new byte[random.Next(1, 16)];
                random.NextBytes(tail);
                return [.. packet[..at], .. tail];
        }
    }

    private static int EnvInt(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out int value) ? value : fallback;
}
