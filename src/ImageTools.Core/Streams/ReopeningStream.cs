namespace ImageTools.Core.Streams;

/// <summary>
/// A seekable, read-only view of bytes that can only be read front to back but can be produced again from
/// the start: a decompressor over a file. Seeking forward reads and discards; seeking backward opens the
/// stream again and reads up to the position. Reading the partition table at the start of a compressed disk
/// image therefore costs only the decompression of the bytes before the last sector read, never a temporary
/// copy. The length is unknown (<see cref="Length"/> throws), as it is for any compressed stream.
/// </summary>
public sealed class ReopeningStream : Stream
{
    private readonly Func<Stream> _open;
    private readonly string _name;
    private Stream? _current;
    private long _currentPosition;
    private long _position;
    private byte[]? _discard;

    /// <param name="open">Opens the bytes from their start (called again for every backward seek).</param>
    /// <param name="name">Names the bytes in messages.</param>
    public ReopeningStream(Func<Stream> open, string name)
    {
        _open = open;
        _name = name;
    }

    public override bool CanRead => true;

    public override bool CanSeek => true;

    public override bool CanWrite => false;

    /// <summary>Unknown without reading everything: throws <see cref="NotSupportedException"/>.</summary>
    public override long Length => throw new NotSupportedException($"{_name}: the length of decompressed data is known only at its end");

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
        if (buffer.IsEmpty)
        {
            return 0;
        }
        if (_current == null || _position < _currentPosition)
        {
            _current?.Dispose();
            _current = _open();
            _currentPosition = 0;
        }
        _discard ??= new byte[64 * 1024];
        while (_currentPosition < _position)
        {
            var skipped = _current.Read(_discard, 0, (int)Math.Min(_discard.Length, _position - _currentPosition));
            if (skipped == 0)
            {
                return 0; // the data ends before the position
            }
            _currentPosition += skipped;
        }
        var n = _current.Read(buffer);
        _currentPosition += n;
        _position += n;
        return n;
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        var target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            _ => throw new NotSupportedException($"{_name}: cannot seek from the end of data whose length is unknown"),
        };
        Position = target;
        return target;
    }

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException($"{_name} is read-only");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException($"{_name} is read-only");

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _current?.Dispose();
            _current = null;
        }
        base.Dispose(disposing);
    }
}
