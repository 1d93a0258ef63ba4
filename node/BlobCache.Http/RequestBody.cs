using System.Buffers;

namespace BlobCache.Http;

/// <summary>
/// One request's body as it arrives: kept in one pooled array (sized by Content-Length, or grown for a chunked body),
/// or, for a method that has no use for a body, only counted and dropped, so that bytes a client sends with a GET
/// cost no memory. The array goes back to the pool when the request ends.
/// </summary>
public sealed class RequestBody
{
    private const int FirstChunkedBuffer = 16 * 1024;
    private byte[] _bytes = [];
    private int _expected;

    /// <summary>Bytes received so far, kept or dropped.</summary>
    public int Length { get; private set; }

    /// <summary>True when the bytes are counted and dropped.</summary>
    public bool Discarding { get; private set; }

    /// <summary>The bytes kept (none when discarding).</summary>
    public ReadOnlySpan<byte> Kept => Discarding ? default : _bytes.AsSpan(0, Length);

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
            if (Length + data.Length > _bytes.Length) Grow(Length + data.Length);
            data.CopyTo(_bytes.AsSpan(Length));
        }
        Length += data.Length;
    }

    /// <summary>The kept bytes as the application reads them; valid until <see cref="Clear"/>.</summary>
    public Stream OpenRead() => Discarding || Length == 0 ? Stream.Null : new MemoryStream(_bytes, 0, Length, writable: false);

    /// <summary>Gives the array back to the pool.</summary>
    public void Clear()
    {
        if (_bytes.Length > 0) ArrayPool<byte>.Shared.Return(_bytes);
        _bytes = [];
        Length = 0;
    }

    private void Grow(int needed)
    {
        int size = Math.Max(needed, _expected > 0 ? _expected : Math.Max(FirstChunkedBuffer, _bytes.Length * 2));
        byte[] bigger = ArrayPool<byte>.Shared.Rent(size);
        _bytes.AsSpan(0, Length).CopyTo(bigger);
        if (_bytes.Length > 0) ArrayPool<byte>.Shared.Return(_bytes);
        _bytes = bigger;
    }
}
