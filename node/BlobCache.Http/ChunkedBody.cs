namespace BlobCache.Http;

public enum BodyStatus
{
    NeedMore,
    Done,
    Invalid,
    TooLarge,
}

/// <summary>
/// Decodes a chunked request body (RFC 9112 §7.1) as bytes arrive, into a caller's buffer, with a bound on the
/// decoded size. Chunk extensions are skipped, trailer fields read and dropped.
/// </summary>
public sealed class ChunkedBody
{
    private enum State { Size, Extension, SizeLf, Data, DataCr, DataLf, Trailer, TrailerLf, Done }

    private const int MaxSizeDigits = 16;
    private State _state;
    private long _remaining; // of the current chunk's data
    private int _digits;
    private int _lineBytes; // of an extension or a trailer line, bounded
    private bool _trailerEmpty;

    public void Reset()
    {
        _state = State.Size;
        _remaining = 0;
        _digits = 0;
        _lineBytes = 0;
        _trailerEmpty = true;
    }

    /// <summary>
    /// Decodes from <paramref name="input"/>, appending data to <paramref name="output"/> up to
    /// <paramref name="maxBody"/> bytes in all (a discarding output counts them too); <paramref name="consumed"/> says
    /// how much input was used (at <see cref="BodyStatus.Done"/>, what follows belongs to the next request).
    /// </summary>
    public BodyStatus Decode(ReadOnlySpan<byte> input, RequestBody output, int maxBody, out int consumed)
    {
        int i = 0;
        try
        {
            while (i < input.Length)
            {
                byte b = input[i];
                switch (_state)
                {
                    case State.Size:
                        int digit = HexValue(b);
                        if (digit >= 0)
                        {
                            if (++_digits > MaxSizeDigits) return BodyStatus.Invalid;
                            _remaining = (_remaining << 4) | (uint)digit;
                            if (_remaining > maxBody) return BodyStatus.TooLarge;
                            i++;
                            break;
                        }
                        if (_digits == 0) return BodyStatus.Invalid;
                        if (b == '\r') _state = State.SizeLf;
                        else if (b is (byte)';' or (byte)' ' or (byte)'\t') { _state = State.Extension; _lineBytes = 0; }
                        else return BodyStatus.Invalid;
                        i++;
                        break;
                    case State.Extension:
                        if (b == '\r') _state = State.SizeLf;
                        else if (b == '\n' || ++_lineBytes > 4096) return BodyStatus.Invalid;
                        i++;
                        break;
                    case State.SizeLf:
                        if (b != '\n') return BodyStatus.Invalid;
                        i++;
                        _digits = 0;
                        if (_remaining == 0)
                        {
                            _state = State.Trailer;
                            _trailerEmpty = true;
                            _lineBytes = 0;
                        }
                        else
                        {
                            if (output.Length + _remaining > maxBody) return BodyStatus.TooLarge;
                            _state = State.Data;
                        }
                        break;
                    case State.Data:
                        int take = (int)Math.Min(_remaining, input.Length - i);
                        output.Append(input.Slice(i, take));
                        i += take;
                        _remaining -= take;
                        if (_remaining == 0) _state = State.DataCr;
                        break;
                    case State.DataCr:
                        if (b != '\r') return BodyStatus.Invalid;
                        _state = State.DataLf;
                        i++;
                        break;
                    case State.DataLf:
                        if (b != '\n') return BodyStatus.Invalid;
                        _state = State.Size;
                        i++;
                        break;
                    case State.Trailer:
                        if (b == '\r') _state = State.TrailerLf;
                        else if (b == '\n' || ++_lineBytes > 8192) return BodyStatus.Invalid;
                        else _trailerEmpty = false;
                        i++;
                        break;
                    case State.TrailerLf:
                        if (b != '\n') return BodyStatus.Invalid;
                        i++;
                        if (_trailerEmpty)
                        {
                            _state = State.Done;
                            return BodyStatus.Done;
                        }
                        _state = State.Trailer;
                        _trailerEmpty = true;
                        break;
                    default:
                        return BodyStatus.Done;
                }
            }
            return _state == State.Done ? BodyStatus.Done : BodyStatus.NeedMore;
        }
        finally
        {
            consumed = i;
        }
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };
}
