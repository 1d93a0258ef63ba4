namespace BlobCache.Node.Peers.Tcp;

/// <summary>
/// The byte stream under the framed transport's <see cref="System.Net.Security.SslStream"/>. SslStream hands its
/// inner stream one TLS record (at most 16 KiB) per write and asks it for about one record per read, so a 4 MiB
/// chunk was 256 sends on the owner and 256 receives on the requester, each an async socket operation. Here reads
/// take whatever the socket has into a read-ahead buffer and SslStream's record-sized reads are served from memory;
/// once <see cref="BatchWrites"/> is on, records are gathered and go out in one write when the batch is full or at a
/// flush (the owner flushes after each answer).
/// </summary>
/// <remarks>
/// Batching stays off during the handshake: SslStream does not flush between handshake messages, so a batched
/// handshake would wait forever for its own reply. It is off on the requester, whose requests are not flushed.
/// </remarks>
/// <param name="reads">Where bytes come from.</param>
/// <param name="writes">Where bytes go (the same stream as <paramref name="reads"/> on the requester).</param>
/// <param name="readAheadBytes">Read-ahead buffer; 0 reads straight through (a source that buffers already).</param>
/// <param name="writeBatchBytes">Largest write batch; 0 never batches.</param>
internal sealed class TlsRecordBatching(Stream reads, Stream writes, int readAheadBytes, int writeBatchBytes) : Stream
{
    private readonly byte[] _readAhead = readAheadBytes > 0 ? new byte[readAheadBytes] : [];
    private readonly byte[] _batch = writeBatchBytes > 0 ? new byte[writeBatchBytes] : [];
    private int _readAt, _readEnd, _batched;

    /// <summary>Gather writes until a flush or a full batch; turn on only after the handshake.</summary>
    public bool BatchWrites { get; set; }

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_readAt == _readEnd)
        {
            if (buffer.Length >= _readAhead.Length) return await reads.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            _readAt = 0;
            _readEnd = await reads.ReadAsync(_readAhead, cancellationToken).ConfigureAwait(false);
        }
        return TakeReadAhead(buffer.Span);
    }

    public override int Read(Span<byte> buffer)
    {
        if (_readAt == _readEnd)
        {
            if (buffer.Length >= _readAhead.Length) return reads.Read(buffer);
            _readAt = 0;
            _readEnd = reads.Read(_readAhead);
        }
        return TakeReadAhead(buffer);
    }

    private int TakeReadAhead(Span<byte> into)
    {
        int n = Math.Min(into.Length, _readEnd - _readAt);
        _readAhead.AsSpan(_readAt, n).CopyTo(into);
        _readAt += n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!BatchWrites || _batch.Length == 0)
        {
            await writes.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (_batched + buffer.Length > _batch.Length) await SendBatchAsync(cancellationToken).ConfigureAwait(false);
        if (buffer.Length >= _batch.Length)
        {
            await writes.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            return;
        }
        buffer.Span.CopyTo(_batch.AsSpan(_batched));
        _batched += buffer.Length;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count)
    {
        // Only the handshake writes synchronously (never, with the async handshake): no batching here.
        if (_batched > 0) throw new InvalidOperationException("a synchronous write after batched ones");
        writes.Write(buffer, offset, count);
    }

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        await SendBatchAsync(cancellationToken).ConfigureAwait(false);
        await writes.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    public override void Flush()
    {
        if (_batched > 0)
        {
            writes.Write(_batch, 0, _batched);
            _batched = 0;
        }
        writes.Flush();
    }

    private async ValueTask SendBatchAsync(CancellationToken cancellationToken)
    {
        if (_batched == 0) return;
        int n = _batched;
        _batched = 0;
        await writes.WriteAsync(_batch.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            reads.Dispose();
            if (!ReferenceEquals(reads, writes)) writes.Dispose();
        }
        base.Dispose(disposing);
    }
}
