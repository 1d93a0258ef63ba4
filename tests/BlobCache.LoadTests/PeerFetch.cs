using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using BlobCache.Node.Peers;
using BlobCache.Protocol.Gossip;
using BlobCache.Store;
using BlobCache.Testing;

namespace BlobCache.LoadTests;

/// <summary>Chunk transfer throughput between two processes on loopback: a peer transport, and raw TCP as the baseline.</summary>
public static class PeerFetch
{
    public const int ChunkBytes = 4 * 1024 * 1024;

    /// <summary>
    /// <paramref name="streams"/> concurrent fetch loops of cached chunks from one node through <paramref name="client"/>
    /// (a real gRPC or UDP client in this process, the node's real server in its own), for <paramref name="duration"/>.
    /// </summary>
    public static async Task<double> TransportAsync(IChunkPeerClient client, MemberMeta peer, IReadOnlyList<ChunkId> chunks, long blobLength,
        int streams, TimeSpan duration)
    {
        long bytes = 0;
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, streams).Select(s => Task.Run(async () =>
        {
            int i = s;
            while (sw.Elapsed < duration)
            {
                ChunkBuffer? chunk = await client.FetchAsync(peer, chunks[i++ % chunks.Count], blobLength, fill: false, TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false)
                    ?? throw new InvalidOperationException("the benchmark node lost a chunk it had cached");
                Interlocked.Add(ref bytes, chunk.Length);
                chunk.Release();
            }
        }))).ConfigureAwait(false);
        return bytes / 1048576.0 / sw.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// The same request/response pattern over plain sockets: the client sends one byte, the server answers with a
    /// 4 MiB chunk from memory. No framing, no checksum, no copy into a pooled buffer: the ceiling for loopback.
    /// </summary>
    public static async Task<double> RawTcpAsync(int streams, TimeSpan duration)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        byte[] payload = new byte[ChunkBytes];
        Random.Shared.NextBytes(payload);
        using var stop = new CancellationTokenSource();
        Task server = Task.Run(async () =>
        {
            var connections = new List<Task>();
            try
            {
                while (true)
                {
                    Socket s = await listener.AcceptSocketAsync(stop.Token).ConfigureAwait(false);
                    connections.Add(Task.Run(async () =>
                    {
                        using (s)
                        {
                            byte[] one = new byte[1];
                            try
                            {
                                while (await s.ReceiveAsync(one, SocketFlags.None).ConfigureAwait(false) == 1)
                                    await s.SendAsync(payload, SocketFlags.None).ConfigureAwait(false);
                            }
                            catch (SocketException)
                            {
                            }
                        }
                    }));
                }
            }
            catch (OperationCanceledException)
            {
            }
            await Task.WhenAll(connections).ConfigureAwait(false);
        });
        long bytes = 0;
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, streams).Select(_ => Task.Run(async () =>
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await s.ConnectAsync(IPAddress.Loopback, port).ConfigureAwait(false);
            byte[] buffer = new byte[ChunkBytes];
            byte[] one = [1];
            while (sw.Elapsed < duration)
            {
                await s.SendAsync(one, SocketFlags.None).ConfigureAwait(false);
                int got = 0;
                while (got < ChunkBytes)
                {
                    int n = await s.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None).ConfigureAwait(false);
                    if (n == 0) throw new IOException("raw TCP server closed early");
                    got += n;
                }
                Interlocked.Add(ref bytes, got);
            }
            s.Shutdown(SocketShutdown.Both);
        }))).ConfigureAwait(false);
        double result = bytes / 1048576.0 / sw.Elapsed.TotalSeconds;
        await stop.CancelAsync().ConfigureAwait(false);
        await server.ConfigureAwait(false);
        return result;
    }
}
