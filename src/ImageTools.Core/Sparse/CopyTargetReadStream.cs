namespace ImageTools.Core.Sparse;

/// <summary>
/// A read-only, seekable stream over what a <see cref="CopyTarget"/> holds, read back through it: how the
/// partition table of an existing DEST is read before writing into one of its partitions, and how the mapped
/// ranges of a bmap copy are checked after writing. The target stays the target's; disposing this does nothing.
/// </summary>
internal sealed class CopyTargetReadStream(CopyTarget target, long length) : Stream
{
    private long _position;

    public override bool CanRead => true;

    public override bool CanSeek => true;

    public override bool CanWrite => false;

    public override long Length => length;

    public override long Position
    {
        get => _position;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _position = value;
        }
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return Read(buffer.AsSpan(offset, count));
    }

    public override int Read(Span<byte> buffer)
    {
        if (_position >= length || buffer.IsEmpty)
        {
            return 0;
        }
        if (buffer.Length > length - _position)
        {
            buffer = buffer[..(int)(length - _position)];
        }
        var n = target.ReadBack(_position, buffer);
        _position += n;
        return n;
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        return _position;
    }

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException("a read-back view cannot change DEST's size");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("a read-back view is read-only");
}
