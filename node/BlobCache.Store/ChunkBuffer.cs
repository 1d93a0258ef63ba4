using System.Buffers;
using System.IO.Hashing;

namespace BlobCache.Store;

/// <summary>
/// A pooled, reference-counted chunk buffer. The creator holds one reference; every other holder takes one with
/// <see cref="TryAddRef"/> and gives it back with <see cref="Release"/>. When the count reaches zero the array goes
/// back to <see cref="ArrayPool{T}.Shared"/>, and every accessor throws <see cref="ObjectDisposedException"/>.
/// </summary>
/// <remarks>
/// The wrapper object itself is not pooled on purpose: a stale reference to a released wrapper then stays released
/// for ever and fails loudly, instead of silently reading someone else's chunk. A <see cref="Memory"/> or span taken
/// while holding a reference must not be used after that reference is released.
/// </remarks>
public sealed class ChunkBuffer
{
    private byte[]? _array;
    private readonly int _length;
    private int _refCount;
    private ulong _checksum;
    private volatile bool _sealed;

    private ChunkBuffer(byte[] array, int length)
    {
        _array = array;
        _length = length;
        _refCount = 1;
    }

    /// <summary>A buffer of <paramref name="length"/> bytes (the pooled array may be longer) with one reference.</summary>
    public static ChunkBuffer Rent(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return new ChunkBuffer(ArrayPool<byte>.Shared.Rent(length), length);
    }

    public int Length => _length;

    /// <summary>The bytes to fill before <see cref="Seal"/>.</summary>
    public Span<byte> Writable
    {
        get
        {
            if (_sealed)
                throw new InvalidOperationException("The chunk is sealed; its content is immutable.");
            return Array().AsSpan(0, _length);
        }
    }

    /// <summary>The bytes to fill before <see cref="Seal"/>, for asynchronous writers (a network or origin read).</summary>
    public Memory<byte> WritableMemory
    {
        get
        {
            if (_sealed)
                throw new InvalidOperationException("The chunk is sealed; its content is immutable.");
            return Array().AsMemory(0, _length);
        }
    }

    public ReadOnlySpan<byte> Span => Array().AsSpan(0, _length);

    public ReadOnlyMemory<byte> Memory => Array().AsMemory(0, _length);

    public bool IsSealed => _sealed;

    /// <summary>XxHash3 of <see cref="Span"/>, computed by <see cref="Seal"/>.</summary>
    public ulong Checksum => _sealed ? _checksum : throw new InvalidOperationException("The chunk is not sealed.");

    /// <summary>Computes <see cref="Checksum"/>; the content is immutable afterwards. A second call does nothing.</summary>
    public void Seal()
    {
        if (_sealed)
            return;
        _checksum = XxHash3.HashToUInt64(Span);
        _sealed = true;
    }

    /// <summary>Internal: seal with a checksum the caller has just verified, so the bytes are hashed once, not twice.</summary>
    internal void SealVerified(ulong checksum)
    {
        _checksum = checksum;
        _sealed = true;
    }

    /// <summary>Recomputes the hash of the content and compares it with <paramref name="expected"/>.</summary>
    public bool Verify(ulong expected) => XxHash3.HashToUInt64(Span) == expected;

    /// <summary>Takes one more reference; false when the buffer has already been released to zero.</summary>
    public bool TryAddRef()
    {
        int current = Volatile.Read(ref _refCount);
        while (current > 0)
        {
            int seen = Interlocked.CompareExchange(ref _refCount, current + 1, current);
            if (seen == current)
                return true;
            current = seen;
        }
        return false;
    }

    /// <summary>Gives one reference back; the last one returns the array to the pool.</summary>
    public void Release()
    {
        int left = Interlocked.Decrement(ref _refCount);
        if (left > 0)
            return;
        if (left < 0)
            throw new InvalidOperationException("ChunkBuffer released more times than it was referenced.");
        byte[]? array = Interlocked.Exchange(ref _array, null);
        if (array is not null)
            ArrayPool<byte>.Shared.Return(array);
    }

    /// <summary>References held now (diagnostics and tests).</summary>
    internal int RefCount => Volatile.Read(ref _refCount);

    private byte[] Array() => Volatile.Read(ref _array) ?? throw new ObjectDisposedException(nameof(ChunkBuffer));
}
