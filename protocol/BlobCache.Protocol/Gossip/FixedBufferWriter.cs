using System.Buffers;

namespace BlobCache.Protocol.Gossip;

/// <summary>An <see cref="IBufferWriter{T}"/> over one pre-sized array, so an exactly measured encode allocates once.</summary>
internal sealed class FixedBufferWriter(byte[] buffer) : IBufferWriter<byte>
{
    private int _written;

    public void Advance(int count)
    {
        if (count < 0 || _written + count > buffer.Length) throw new InvalidOperationException("Advanced past the end of the buffer.");
        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0) => buffer.AsMemory(Reserve(sizeHint));

    public Span<byte> GetSpan(int sizeHint = 0) => buffer.AsSpan(Reserve(sizeHint));

    /// <summary>The buffer, which must be exactly full: a shortfall means Measure and Encode disagree.</summary>
    public byte[] WrittenArray() => _written == buffer.Length
        ? buffer
        : throw new InvalidOperationException($"GossipCodec.Measure said {buffer.Length} bytes but Encode wrote {_written}.");

    private int Reserve(int sizeHint)
    {
        if (sizeHint > buffer.Length - _written)
            throw new InvalidOperationException($"GossipCodec.Measure said {buffer.Length} bytes but Encode needs more.");
        return _written;
    }
}
