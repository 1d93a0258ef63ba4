using System.IO.Hashing;
using System.Net;
using System.Net.Sockets;
using BlobCache.Node.Peers;
using BlobCache.Node.Peers.Tcp;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;
using BlobCache.Testing;

namespace BlobCache.Node.Tests.Peers;

/// <summary>The framed-TCP requester against a fake owner in-process that sends a chunk of its choosing.</summary>
public sealed class TcpChunkPeerClientTests
{
    private const int ChunkSize = 1024 * 1024;
    private const long BlobLength = ChunkSize + 1000; // chunks of 1 MiB and 1000 bytes
    private static readonly ChunkId First = new("devstoreaccount1", "dataset", "a/b.bin", "\"0x1\"", 0);

    /// <summary>Answers one request on one connection with <paramref name="chunk"/> and its true checksum.</summary>
    private static async Task OwnerAsync(TcpListener listener, byte[] chunk)
    {
        using Socket socket = await listener.AcceptSocketAsync();
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        byte[] head = new byte[TcpFrames.Magic.Length + 4];
        await stream.ReadExactlyAsync(head);
        await stream.ReadExactlyAsync(new byte[BitConverter.ToInt32(head, TcpFrames.Magic.Length)]);
        byte[] answer = new byte[1 + TcpFrames.AnswerBytes];
        answer[0] = TcpFrames.Accepted;
        TcpFrames.WriteAnswer(answer.AsSpan(1), TcpStatus.Ok, 0, chunk.Length, XxHash3.HashToUInt64(chunk));
        await stream.WriteAsync(answer);
        await stream.WriteAsync(chunk);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(ChunkSize - 1)]
    [InlineData(ChunkSize + 1)]
    public async Task A_chunk_whose_length_is_not_the_expected_one_is_refused_even_with_a_matching_checksum(int sent)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var owner = new MemberMeta("owner", "127.0.0.1:1", $"127.0.0.1:{port}", "127.0.0.1:2", "local", "local-1", 100, 1);
        byte[] chunk = new byte[sent];
        new Random(sent).NextBytes(chunk);
        Task serving = OwnerAsync(listener, chunk);
        await using var client = new TcpChunkPeerClient("me", ChunkSize);
        PeerTransferException e = await Assert.ThrowsAsync<PeerTransferException>(() =>
            client.FetchAsync(owner, First, BlobLength, fill: true, TimeSpan.FromSeconds(10), CancellationToken.None));
        Assert.Contains($"announced a chunk of {sent} bytes, expected {ChunkSize}", e.Message, StringComparison.Ordinal);
        await serving.WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { }, TaskScheduler.Default); // the client may hang up first

        // The right length with its checksum is taken.
        Task good = OwnerAsync(listener, new byte[ChunkSize]);
        ChunkBuffer? got = await client.FetchAsync(owner, First, BlobLength, fill: true, TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.Equal(ChunkSize, got!.Length);
        got.Release();
        await good.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
