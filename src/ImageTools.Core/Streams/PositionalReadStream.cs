namespace ImageTools.Core.Streams;

/// <summary>
/// The common shape of our read-only, seekable views (a file inside an image, a device of known size, a copy
/// target read back): a position, a length, and one positional read. Subclasses implement only
/// <see cref="ReadAt"/>; the position, seeking, clamping at the end and the refusal of writes live here once.
/// Seeking past the end is allowed (reads there return 0), as on a <see cref="FileStream"/>.
/// </summary>
public abstract class PositionalReadStream : Stream
{
    private long _position;

    public sealed override bool CanRead => true;

    public sealed override bool CanSeek => true;

    public sealed override bool CanWrite => false;

    public sealed override long Position
    {
        get => _position;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _position = value;
        }
    }

    /// <summary>
    /// Reads at <paramref name="position"/> into <paramref name="buffer"/>, which is never empty and never
    /// reaches past <see cref="Stream.Length"/>; returns the bytes read (0 only at a premature end of the source).
    /// </summary>
    protected abstract int ReadAt(long position, Span<byte> buffer);

    /// <summary>What a write attempt is told, e.g. "the content of a file in an image is read-only".</summary>
    protected virtual string ReadOnlyReason => "this stream is read-only";

    public sealed override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return Read(buffer.AsSpan(offset, count));
    }

    public sealed override int Read(Span<byte> buffer)
    {
        var remaining = Length - _position;
        if (remaining <= 0 || buffer.IsEmpty)
        {
            return 0;
        }
        if (buffer.Length > remaining)
        {
            buffer = buffer[..(int)remaining];
        }
        var read = ReadAt(_position, buffer);
        _position += read;
        return read;
    }

    public sealed override long Seek(long offset, SeekOrigin origin)
    {
        Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => Length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        return _position;
    }

    public sealed override void Flush()
    {
    }

    public sealed override void SetLength(long value) => throw new NotSupportedException(ReadOnlyReason);

    public sealed override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException(ReadOnlyReason);

    public sealed override void Write(ReadOnlySpan<byte> buffer) => throw new NotSupportedException(ReadOnlyReason);
}
