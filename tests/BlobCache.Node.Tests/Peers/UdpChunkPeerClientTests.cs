using System.Diagnostics;
using System.IO.Hashing;
using System.Net;
using System.Net.Sockets;
using BlobCache.Node.Peers;
using BlobCache.Node.Peers.Udp;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;
using BlobCache.Testing;
using LiteNetLib;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobCache.Node.Tests.Peers;

/// <summary>The UDP requester against fake owners in-process: good, lying, silent, dead and vanishing ones.</summary>
public sealed class UdpChunkPeerClientTests
{
    private const int ChunkSize = 1024 * 1024;
    private const long BlobLength = 2L * ChunkSize + 1000; // chunks of 1 MiB, 1 MiB, 1000 bytes
    private static readonly ChunkId First = new("devstoreaccount1", "dataset", "a/b.bin", "\"0x1\"", 0);
    /// <summary>For the silent and dead owners: the time a dead peer may cost.</summary>
    private static readonly TimeSpan Answer = TimeSpan.FromMilliseconds(800);
    /// <summary>For owners that do answer: generous, the test machine may be loaded.</summary>
    private static readonly TimeSpan Patient = TimeSpan.FromSeconds(10);

    private static MemberMeta Peer(int port) => new("owner", "127.0.0.1:1", "127.0.0.1:2", $"127.0.0.1:{port}", "local", "local-1", 100, 1);

    private static byte[] Bytes(int length, int seed)
    {
        byte[] data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>A LiteNetLib owner whose answers to each Fetch come from <c>answer</c> (frames sent in order).</summary>
    private sealed class FakeOwner : IDisposable
    {
        private readonly NetManager _manager;

        public FakeOwner(Func<uint, UdpFetch, IEnumerable<byte[]>?> answer, bool disconnectAfterAnswer = false)
        {
            var listener = new EventBasedNetListener();
            _manager = new NetManager(listener);
            UdpTransport.Configure(_manager);
            listener.ConnectionRequestEvent += r => r.AcceptIfKey(UdpTransport.ConnectionKey);
            listener.NetworkReceiveEvent += (peer, reader, channel, method) =>
            {
                if (!UdpFrames.TryDecode(reader.GetRemainingBytesSpan(), out UdpFrame f, out _) || f.Kind != UdpFrameKind.Fetch) return;
                IEnumerable<byte[]>? frames = answer(f.RequestId, f.Fetch!);
                if (frames is null) return; // silent
                foreach (byte[] frame in frames) peer.Send(frame, channel, DeliveryMethod.ReliableOrdered);
                _manager.TriggerUpdate();
                if (disconnectAfterAnswer) peer.Disconnect();
            };
            Assert.True(_manager.Start(IPAddress.Loopback, IPAddress.IPv6Loopback, 0));
        }

        public int Port => _manager.LocalPort;

        public void Dispose() => _manager.Stop();
    }

    private static byte[] Frame(Func<byte[], int> write)
    {
        byte[] b = new byte[UdpFrames.MaxFrameBytes];
        return b[..write(b)];
    }

    private static IEnumerable<byte[]> Chunk(uint id, byte[] data, ulong? checksum = null, int piece = UdpFrames.PieceBytes)
    {
        yield return Frame(b => UdpFrames.WriteAccepted(b, id));
        yield return Frame(b => UdpFrames.WriteOk(b, id, data.Length, checksum ?? XxHash3.HashToUInt64(data), 0));
        for (int offset = 0; offset < data.Length; offset += piece)
        {
            int o = offset, n = Math.Min(piece, data.Length - offset);
            yield return Frame(b =>
            {
                int h = UdpFrames.WritePieceHeader(b, id, o);
                data.AsSpan(o, n).CopyTo(b.AsSpan(h));
                return h + n;
            });
        }
    }

    [Fact]
    public async Task Concurrent_fetches_share_one_connection_and_arrive_byte_exact()
    {
        byte[][] chunks = [Bytes(ChunkSize, 1), Bytes(ChunkSize, 2), Bytes(1000, 3)];
        using var owner = new FakeOwner((id, f) => Chunk(id, chunks[f.Index]));
        await using var client = new UdpChunkPeerClient("me", ChunkSize, NullLogger.Instance);
        ChunkBuffer?[] got = await Task.WhenAll(Enumerable.Range(0, 12).Select(i =>
            client.FetchAsync(Peer(owner.Port), First with { Index = i % 3 }, BlobLength, fill: true, Patient, CancellationToken.None)));
        for (int i = 0; i < got.Length; i++)
        {
            Assert.NotNull(got[i]);
            Assert.True(got[i]!.Span.SequenceEqual(chunks[i % 3]), $"fetch {i} has wrong bytes");
            got[i]!.Release();
        }
        Assert.Equal(1, client.Connections);
        Assert.Equal(0, client.DroppedFrames);
        Assert.Equal("memory", await client.WarmAsync(Peer(owner.Port), First, BlobLength, Patient, CancellationToken.None));
    }

    [Fact]
    public async Task Not_found_is_null_and_an_error_answer_is_a_transfer_failure_with_its_message()
    {
        using var owner = new FakeOwner((id, f) => f.Fill
            ? [Frame(b => UdpFrames.WriteError(b, id, "origin said 503"))]
            : [Frame(b => UdpFrames.WriteAccepted(b, id)), Frame(b => UdpFrames.WriteNotFound(b, id))]);
        await using var client = new UdpChunkPeerClient("me", ChunkSize, NullLogger.Instance);
        Assert.Null(await client.FetchAsync(Peer(owner.Port), First, BlobLength, fill: false, Patient, CancellationToken.None));
        PeerTransferException e = await Assert.ThrowsAsync<PeerTransferException>(() =>
            client.FetchAsync(Peer(owner.Port), First, BlobLength, fill: true, Patient, CancellationToken.None));
        Assert.Contains("origin said 503", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("checksum")]
    [InlineData("length")]
    [InlineData("gap")]
    [InlineData("short-then-gone")]
    public async Task A_lying_or_vanishing_owner_is_a_transfer_failure_never_wrong_bytes(string lie)
    {
        byte[] data = Bytes(ChunkSize, 7);
        using var owner = new FakeOwner((id, _) => lie switch
        {
            "checksum" => Chunk(id, data, checksum: 12345),
            "length" => Chunk(id, data[..^1]),
            "gap" => Chunk(id, data).Where((_, i) => i != 3), // one piece missing: the next has the wrong offset
            _ => Chunk(id, data).Take(5), // three pieces, then the owner disconnects
        }, disconnectAfterAnswer: lie == "short-then-gone");
        await using var client = new UdpChunkPeerClient("me", ChunkSize, NullLogger.Instance);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await Assert.ThrowsAsync<PeerTransferException>(() => client.FetchAsync(Peer(owner.Port), First, BlobLength, fill: true, Patient, cts.Token));
    }

    [Fact]
    public async Task A_silent_owner_costs_the_answer_timeout_and_a_dead_address_no_more()
    {
        // Silent: the connection is made, the request is never answered.
        using var owner = new FakeOwner((_, _) => null);
        await using var client = new UdpChunkPeerClient("me", ChunkSize, NullLogger.Instance);
        var watch = Stopwatch.StartNew();
        PeerTransferException e = await Assert.ThrowsAsync<PeerTransferException>(() =>
            client.FetchAsync(Peer(owner.Port), First, BlobLength, fill: true, Answer, CancellationToken.None));
        Assert.Contains("did not answer", e.Message, StringComparison.Ordinal);
        Assert.InRange(watch.Elapsed, Answer * 0.9, Answer + TimeSpan.FromSeconds(3));

        // Dead: nothing listens (a bound socket that never reads, so no ICMP either).
        using var hole = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        hole.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        watch.Restart();
        await Assert.ThrowsAsync<PeerTransferException>(() =>
            client.FetchAsync(Peer(((IPEndPoint)hole.LocalEndPoint!).Port), First, BlobLength, fill: true, Answer, CancellationToken.None));
        Assert.InRange(watch.Elapsed, Answer * 0.9, Answer + TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task Cancellation_bounds_the_transfer_and_disposal_fails_what_is_left_without_hanging()
    {
        // Accepted, then nothing: the answer timeout is over, the caller's token ends it.
        using var owner = new FakeOwner((id, _) => [Frame(b => UdpFrames.WriteAccepted(b, id))]);
        var client = new UdpChunkPeerClient("me", ChunkSize, NullLogger.Instance);
        using (var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(1500)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                client.FetchAsync(Peer(owner.Port), First, BlobLength, fill: true, Patient, cts.Token));
        }
        Task<ChunkBuffer?> pending = client.FetchAsync(Peer(owner.Port), First, BlobLength, fill: true, Patient, CancellationToken.None);
        await Task.Delay(500);
        var watch = Stopwatch.StartNew();
        await client.DisposeAsync();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"disposal took {watch.Elapsed}");
        await Assert.ThrowsAsync<PeerTransferException>(() => pending.WaitAsync(TimeSpan.FromSeconds(5)));
        await Assert.ThrowsAsync<ObjectDisposedException>(() =>
            client.FetchAsync(Peer(owner.Port), First, BlobLength, fill: true, Answer, CancellationToken.None));
    }
}
