namespace BlobCache.Http;

/// <summary>
/// One request's body as it arrives: kept in memory mapped for it alone (sized by Content-Length, or grown for a
/// chunked body) and unmapped when the request ends, so what a burst of bodies took goes back to the system with the
/// burst instead of waiting in a pool or for a collection; or, for a method that has no use for a body, only counted
/// and dropped, so that bytes a client sends with a GET cost no memory at all.
/// </summary>
public sealed unsafe class RequestBody
{
    private const int FirstChunkedMapping = 64 * 1024;
    private byte* _bytes;
    private nuint _mapped;
    private int _expected;
    private Reader? _reader;

    /// <summary>Bytes received so far, kept or dropped.</summary>
    public int Length { get; private set; }

    /// <summary>True when the bytes are counted and dropped.</summary>
    public bool Discarding { get; private set; }

    /// <summary>The bytes kept (none when discarding); valid until <see cref="Clear"/>.</summary>
    public ReadOnlySpan<byte> Kept => Discarding || _bytes == null ? default : new ReadOnlySpan<byte>(_bytes, Length);

    /// <summary>Begins a body of <paramref name="expected"/> bytes (0 when unknown: chunked).</summary>
    public void Start(int expected, bool discard)
    {
        Clear();
        _expected = expected;
        Discarding = discard;
    }

    public void Append(ReadOnlySpan<byte> data)
    {
        if (!Discarding)
        {
            if ((nuint)(Length + data.Length) > _mapped) Grow(Length + data.Length);
            data.CopyTo(new Span<byte>(_bytes + Length, data.Length));
        }
        Length += data.Length;
    }

    /// <summary>The kept bytes as the application reads them, until <see cref="Clear"/> (then reading fails).</summary>
    public Stream OpenRead() => Discarding || Length == 0 ? Stream.Null : _reader = new Reader(this);

    /// <summary>Unmaps the bytes; a stream still open on them fails from now on instead of reading freed memory.</summary>
    public void Clear()
    {
        _reader?.Detach();
        _reader = null;
        if (_bytes != null) Native.munmap(_bytes, _mapped);
        _bytes = null;
        _mapped = 0;
        Length = 0;
    }

    private void Grow(int needed)
    {
        int size = Math.Max(needed, _expected > 0 ? _expected : Math.Max(FirstChunkedMapping, (int)_mapped * 2));
        byte* bigger = (byte*)Native.mmap(null, (nuint)size, Native.PROT_READ | Native.PROT_WRITE, Native.MAP_PRIVATE | Native.MAP_ANONYMOUS, -1, 0);
        if (bigger == (byte*)-1) throw new OutOfMemoryException($"cannot map {size} bytes for a request body: {Native.Describe(Native.LastError)}");
        if (_bytes != null)
        {
            new ReadOnlySpan<byte>(_bytes, Length).CopyTo(new Span<byte>(bigger, Length));
            Native.munmap(_bytes, _mapped);
        }
        _bytes = bigger;
        _mapped = (nuint)size;
    }

    /// <summary>Reads the kept bytes; each read and the detaching hold one lock, so no read touches unmapped memory.</summary>
    private sealed class Reader(RequestBody body) : Stream
    {
        private readonly Lock _gate = new();
        private RequestBody? _body = body;
        private int _position;

        public void Detach()
        {
            lock (_gate) _body = null;
        }

        public override int Read(Span<byte> buffer)
        {
            lock (_gate)
            {
                RequestBody b = _body ?? throw new ObjectDisposedException(nameof(RequestBody), "the request has ended");
                int n = Math.Min(buffer.Length, b.Length - _position);
                new ReadOnlySpan<byte>(b._bytes + _position, n).CopyTo(buffer);
                _position += n;
                return n;
            }
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            cancellationToken.IsCancellationRequested ? ValueTask.FromCanceled<int>(cancellationToken) : new(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => _body?.Length ?? 0;
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
