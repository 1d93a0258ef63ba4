using System.Security.Cryptography;
using BlobCache.Protocol.Gossip;
using BlobCache.Protocol.Security;

namespace BlobCache.Protocol.Tests.Security;

public sealed class GossipSealTests
{
    private static byte[] Key(byte fill) => Enumerable.Repeat(fill, Keyring.KeyBytes).ToArray();
    private static readonly byte[] K1 = Key(1), K2 = Key(2), K3 = Key(3);

    private static byte[] Packet() => GossipCodec.Encode(new Ping
    {
        SourceId = "node-a", Seq = 7, TargetId = "node-b", SourceAddress = "10.0.0.1:7946",
        Updates = [new MemberUpdate(UpdateKind.Suspect, "node-c", 3, "node-a", null)],
    });

    private static byte[] Seal(Keyring ring, byte[] plaintext)
    {
        byte[] sealedPacket = new byte[plaintext.Length + GossipSeal.Overhead];
        Assert.Equal(sealedPacket.Length, GossipSeal.Seal(ring, plaintext, sealedPacket));
        return sealedPacket;
    }

    private static OpenStatus Open(Keyring ring, byte[] sealedPacket, out byte[] plaintext)
    {
        byte[] buffer = new byte[Math.Max(0, sealedPacket.Length - GossipSeal.Overhead)];
        OpenStatus status = GossipSeal.Open(ring, sealedPacket, buffer, out int n, out _);
        plaintext = buffer[..n];
        return status;
    }

    [Fact]
    public void Round_trip_gives_back_the_packet_which_still_decodes()
    {
        Keyring ring = Keyring.Create([K1]);
        byte[] plain = Packet();
        byte[] sealedPacket = Seal(ring, plain);
        Assert.Equal(GossipSeal.Magic, sealedPacket[0]);
        Assert.Equal(GossipSeal.Version, sealedPacket[1]);
        Assert.Equal(34, GossipSeal.Overhead);
        Assert.False(sealedPacket.AsSpan().IndexOf("node-a"u8) >= 0, "the source id must not be readable on the wire");

        Assert.Equal(OpenStatus.Ok, Open(ring, sealedPacket, out byte[] opened));
        Assert.Equal(plain, opened);
        Assert.True(GossipCodec.TryDecode(opened, WireLimits.Default, out GossipMessage? m, out _));
        Assert.Equal("node-a", m!.SourceId);
        Assert.Equal(1, ring.Primary.PacketsOpened);
        Assert.Equal(1, ring.Primary.PacketsSealed);
    }

    [Fact]
    public void Every_packet_gets_a_fresh_nonce()
    {
        Keyring ring = Keyring.Create([K1]);
        byte[] plain = Packet();
        var nonces = new HashSet<string>();
        for (int i = 0; i < 1000; i++)
            Assert.True(nonces.Add(Convert.ToHexString(Seal(ring, plain).AsSpan(GossipSeal.HeaderBytes, GossipSeal.NonceBytes))));
    }

    [Fact]
    public void Changing_any_single_byte_makes_the_packet_fail_and_leaves_no_plaintext()
    {
        Keyring ring = Keyring.Create([K1]);
        byte[] sealedPacket = Seal(ring, Packet());
        for (int i = 0; i < sealedPacket.Length; i++)
        {
            foreach (byte flip in new byte[] { 0x01, 0x80, 0xFF })
            {
                byte[] tampered = (byte[])sealedPacket.Clone();
                tampered[i] ^= flip;
                byte[] buffer = new byte[sealedPacket.Length];
                OpenStatus status = GossipSeal.Open(ring, tampered, buffer, out int n, out _);
                Assert.True(status != OpenStatus.Ok, $"byte {i} ^ 0x{flip:X2} was accepted");
                Assert.Equal(0, n);
                Assert.All(buffer, b => Assert.Equal(0, b));
                // Which check catches it depends on the field: magic, version, key id, or the tag for everything else.
                OpenStatus expected = i switch
                {
                    0 => OpenStatus.NotSealed,
                    1 => OpenStatus.UnknownVersion,
                    < GossipSeal.HeaderBytes => OpenStatus.UnknownKey,
                    _ => OpenStatus.BadTag,
                };
                Assert.Equal(expected, status);
            }
        }
        Assert.Equal(0, ring.Primary.PacketsOpened);
    }

    [Fact]
    public void Truncated_extended_plain_and_empty_packets_are_refused()
    {
        Keyring ring = Keyring.Create([K1]);
        byte[] sealedPacket = Seal(ring, Packet());
        for (int n = 0; n < sealedPacket.Length; n++)
            Assert.NotEqual(OpenStatus.Ok, Open(ring, sealedPacket[..n], out _));
        Assert.Equal(OpenStatus.BadTag, Open(ring, [.. sealedPacket, 0], out _));
        Assert.Equal(OpenStatus.NotSealed, Open(ring, Packet(), out _));
        Assert.Equal(OpenStatus.NotSealed, Open(ring, [], out _));
        Assert.Equal(OpenStatus.TooShort, Open(ring, sealedPacket[..(GossipSeal.Overhead - 1)], out _));
    }

    [Fact]
    public void A_packet_with_a_forged_key_id_of_a_held_key_fails_authentication()
    {
        // The header names K2, which the receiver holds, but the packet was sealed with K1: the tag decides.
        Keyring sender = Keyring.Create([K1]);
        Keyring receiver = Keyring.Create([K3, K2]);
        byte[] sealedPacket = Seal(sender, Packet());
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(sealedPacket.AsSpan(2), receiver.Keys[1].Fingerprint);
        Assert.Equal(OpenStatus.BadTag, Open(receiver, sealedPacket, out _));
    }

    [Fact]
    public void A_wrong_key_is_an_unknown_key_and_a_random_packet_never_opens()
    {
        byte[] sealedPacket = Seal(Keyring.Create([K1]), Packet());
        Assert.Equal(OpenStatus.UnknownKey, Open(Keyring.Create([K2]), sealedPacket, out _));

        Keyring ring = Keyring.Create([K1]);
        var random = new Random(42);
        for (int i = 0; i < 2000; i++)
        {
            byte[] noise = new byte[random.Next(0, 200)];
            random.NextBytes(noise);
            if (noise.Length > 0 && random.Next(2) == 0) noise[0] = GossipSeal.Magic;
            if (noise.Length > 1 && random.Next(2) == 0) noise[1] = GossipSeal.Version;
            if (noise.Length > 5 && random.Next(2) == 0) System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(noise.AsSpan(2), ring.Primary.Fingerprint);
            Assert.NotEqual(OpenStatus.Ok, Open(ring, noise, out _));
        }
    }

    [Fact]
    public void Rotation_in_order_never_loses_a_packet_and_out_of_order_does()
    {
        byte[] plain = Packet();
        // Three nodes' rings at each step of add → promote → remove; any sender's packet opens at any receiver
        // as long as every node finishes a step before any node starts the next.
        Keyring[][] steps =
        [
            [Keyring.Create([K1]), Keyring.Create([K1]), Keyring.Create([K1])],
            [Keyring.Create([K1, K2]), Keyring.Create([K1]), Keyring.Create([K1])], // adding K2 to one node at a time
            [Keyring.Create([K1, K2]), Keyring.Create([K1, K2]), Keyring.Create([K1, K2])],
            [Keyring.Create([K2, K1]), Keyring.Create([K1, K2]), Keyring.Create([K1, K2])], // promoting, one at a time
            [Keyring.Create([K2, K1]), Keyring.Create([K2, K1]), Keyring.Create([K2, K1])],
            [Keyring.Create([K2]), Keyring.Create([K2, K1]), Keyring.Create([K2, K1])], // removing K1, one at a time
            [Keyring.Create([K2]), Keyring.Create([K2]), Keyring.Create([K2])],
        ];
        foreach (Keyring[] nodes in steps)
        {
            foreach (Keyring sender in nodes)
            {
                foreach (Keyring receiver in nodes)
                {
                    Assert.Equal(OpenStatus.Ok, Open(receiver, Seal(sender, plain), out byte[] opened));
                    Assert.Equal(plain, opened);
                }
            }
        }
        // Promoting K2 on one node before another holds it: that node's packets are dropped there.
        Assert.Equal(OpenStatus.UnknownKey, Open(Keyring.Create([K1]), Seal(Keyring.Create([K2, K1]), plain), out _));
        // Removing K1 while another node still seals with it: same.
        Assert.Equal(OpenStatus.UnknownKey, Open(Keyring.Create([K2]), Seal(Keyring.Create([K1, K2]), plain), out _));
    }

    [Fact]
    public void A_reloaded_ring_keeps_the_entries_and_counters_of_keys_it_still_holds()
    {
        Keyring first = Keyring.Create([K1]);
        Open(first, Seal(first, Packet()), out _);
        Keyring second = Keyring.Create([K2, K1], first);
        Assert.Same(first.Primary, second.Keys[1]);
        Assert.Equal(1, second.Keys[1].PacketsOpened);
        Assert.Equal(second.Keys[0], second.Primary);
        Assert.Contains("(primary)", second.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Keyring_refuses_no_keys_short_keys_and_duplicates()
    {
        Assert.Throws<ArgumentException>(() => Keyring.Create([]));
        Assert.Throws<ArgumentException>(() => Keyring.Create([new byte[16]]));
        Assert.Throws<ArgumentException>(() => Keyring.Create([K1, K2, K1]));
    }

    [Fact]
    public void Seal_refuses_a_buffer_that_is_too_small()
    {
        byte[] plain = Packet();
        Assert.Throws<ArgumentException>(() => GossipSeal.Seal(Keyring.Create([K1]), plain, new byte[plain.Length + GossipSeal.Overhead - 1]));
    }

    [Fact]
    public void Fingerprints_are_stable_and_name_keys_apart()
    {
        byte[] key = RandomNumberGenerator.GetBytes(32);
        Assert.Equal(Keyring.Create([key]).Primary.Fingerprint, Keyring.Create([(byte[])key.Clone()]).Primary.Fingerprint);
        Assert.NotEqual(Keyring.Create([K1]).Primary.Fingerprint, Keyring.Create([K2]).Primary.Fingerprint);
        Assert.Matches("^[0-9a-f]{8}$", Keyring.Create([key]).Primary.Id);
    }
}
