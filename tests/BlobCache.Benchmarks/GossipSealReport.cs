using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using BlobCache.Protocol.Gossip;
using BlobCache.Protocol.Security;

namespace BlobCache.Benchmarks;

/// <summary>
/// <c>sealcost [ROUNDS]</c>: the cost encryption adds to a gossip datagram, measured interleaved (plain and sealed
/// batches alternate within each round) so a loaded machine slows both alike; prints the median per operation.
/// BenchmarkDotNet's <see cref="NodeHotPathBenchmarks"/> has the same cases; this one tolerates a busy machine.
/// </summary>
public static class GossipSealReport
{
    public static int Run(string[] args)
    {
        int rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 41;
        const int batch = 2000;
        // A datagram filled to the node's budget with a keyring (1,400 on the wire less the seal's overhead).
        var updates = new List<MemberUpdate>();
        var message = new Gossip { SourceId = "node-00042", Updates = updates };
        while (true)
        {
            updates.Add(new MemberUpdate(UpdateKind.Suspect, $"node-{updates.Count:D5}", (uint)updates.Count, "node-00042", null));
            if (GossipCodec.Measure(message) <= 1400 - GossipSeal.Overhead) continue;
            updates.RemoveAt(updates.Count - 1);
            break;
        }
        byte[] packet = GossipCodec.Encode(message);
        Keyring ring = Keyring.Create([System.Security.Cryptography.RandomNumberGenerator.GetBytes(32), System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)]);
        byte[] sealedPacket = new byte[packet.Length + GossipSeal.Overhead];
        GossipSeal.Seal(ring, packet, sealedPacket);
        var writer = new ArrayBufferWriter<byte>(2048);
        byte[] sealBuffer = new byte[4096], openBuffer = new byte[4096];

        (string Name, Action Op)[] cases =
        [
            ("encode", () => { writer.ResetWrittenCount(); GossipCodec.Encode(message, writer); }),
            ("encode+seal", () => { writer.ResetWrittenCount(); GossipCodec.Encode(message, writer); GossipSeal.Seal(ring, writer.WrittenSpan, sealBuffer); }),
            ("decode", () => GossipCodec.TryDecode(packet, WireLimits.Default, out _, out _)),
            ("open+decode", () =>
            {
                GossipSeal.Open(ring, sealedPacket, openBuffer, out int n, out _);
                GossipCodec.TryDecode(openBuffer.AsMemory(0, n), WireLimits.Default, out _, out _);
            }),
            ("seal", () => GossipSeal.Seal(ring, packet, sealBuffer)),
            ("open", () => GossipSeal.Open(ring, sealedPacket, openBuffer, out _, out _)),
            // What a nonce would cost without the pool: one call into the system generator.
            ("rng call", () => System.Security.Cryptography.RandomNumberGenerator.Fill(sealBuffer.AsSpan(0, 12))),
        ];
        var samples = cases.Select(_ => new List<double>()).ToArray();
        for (int r = -3; r < rounds; r++) // three warm-up rounds
        {
            for (int c = 0; c < cases.Length; c++)
            {
                Action op = cases[c].Op;
                long start = Stopwatch.GetTimestamp();
                for (int i = 0; i < batch; i++) op();
                double us = Stopwatch.GetElapsedTime(start).TotalMicroseconds / batch;
                if (r >= 0) samples[c].Add(us);
            }
        }
        double Median(int c) => samples[c].Order().ElementAt(samples[c].Count / 2);
        Console.WriteLine($"gossip datagram of {packet.Length} bytes ({updates.Count} rumours); sealed {sealedPacket.Length} bytes (+{GossipSeal.Overhead}); {rounds} rounds of {batch}");
        for (int c = 0; c < cases.Length; c++) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {cases[c].Name,-12} {Median(c),8:F2} µs (median)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  ratios: encode+seal / encode {Median(1) / Median(0):F2}, open+decode / decode {Median(3) / Median(2):F2}"));
        return 0;
    }
}
