using BlobCache.Node.Peers.Tcp;

namespace BlobCache.Node.Tests.Unit;

public sealed class TlsRecordBatchingTests
{
    /// <summary>A stream that records the size of each write it is given and serves reads from fixed bytes.</summary>
    private sealed class RecordingStream(byte[] readable) : MemoryStream(readable)
    {
        public List<int> Writes { get; } = [];
        public int Reads { get; private set; }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Writes.Add(buffer.Length);
            return ValueTask.CompletedTask;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Reads++;
            return base.ReadAsync(buffer, cancellationToken);
        }
    }

    [Fact]
    public async Task Records_written_while_batching_go_out_in_one_write_at_the_flush()
    {
        var socket = new RecordingStream([]);
        await using var batching = new TlsRecordBatching(socket, socket, 0, 128 * 1024) { BatchWrites = true };
        for (int i = 0; i < 4; i++) await batching.WriteAsync(new byte[16 * 1024 + 22]);
        Assert.Empty(socket.Writes);
        await batching.FlushAsync();
        Assert.Equal([4 * (16 * 1024 + 22)], socket.Writes);
    }

    [Fact]
    public async Task A_full_batch_goes_out_before_the_record_that_would_overflow_it()
    {
        var socket = new RecordingStream([]);
        await using var batching = new TlsRecordBatching(socket, socket, 0, 40 * 1024) { BatchWrites = true };
        for (int i = 0; i < 3; i++) await batching.WriteAsync(new byte[16 * 1024]);
        await batching.FlushAsync();
        Assert.Equal([32 * 1024, 16 * 1024], socket.Writes);
    }

    [Fact]
    public async Task Writes_pass_straight_through_until_batching_is_turned_on_as_the_handshake_needs()
    {
        var socket = new RecordingStream([]);
        await using var batching = new TlsRecordBatching(socket, socket, 0, 128 * 1024);
        await batching.WriteAsync(new byte[300]);
        Assert.Equal([300], socket.Writes);
    }

    [Fact]
    public async Task Small_reads_are_served_from_one_read_ahead_of_the_socket_in_order()
    {
        byte[] data = Enumerable.Range(0, 10_000).Select(i => (byte)i).ToArray();
        var socket = new RecordingStream(data);
        await using var batching = new TlsRecordBatching(socket, socket, 64 * 1024, 0);
        byte[] got = new byte[data.Length];
        int at = 0;
        while (at < got.Length)
        {
            int n = await batching.ReadAsync(got.AsMemory(at, Math.Min(1000, got.Length - at)));
            Assert.True(n > 0);
            at += n;
        }
        Assert.Equal(data, got);
        Assert.Equal(1, socket.Reads);
        Assert.Equal(0, await batching.ReadAsync(new byte[10]));
    }
}
