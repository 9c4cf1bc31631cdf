namespace ImageTools.Core.Streams;

/// <summary>
/// A source read front to back from a <see cref="Stream"/>: stdin, a pipe, a character device or a
/// decompressor. Everything is data; jumping forward reads and discards. Its length is known only once a
/// read returns 0, unless given.
/// </summary>
public sealed class StreamDataSource : DataSource
{
    private readonly Stream _stream;
    private readonly bool _ownsStream;
    private readonly Func<long>? _rawBytesRead;
    private readonly long? _length;
    private long _position;
    private long _bytesRead;

    /// <param name="name">Name for messages.</param>
    /// <param name="stream">Read sequentially from its current position.</param>
    /// <param name="length">Length when known in advance.</param>
    /// <param name="rawBytesRead">Bytes read from the medium under a decompressor, if the stream is one.</param>
    /// <param name="ownsStream">Dispose the stream with the source.</param>
    public StreamDataSource(string name, Stream stream, long? length = null, Func<long>? rawBytesRead = null, bool ownsStream = true)
    {
        Name = name;
        _stream = stream;
        _length = length;
        _rawBytesRead = rawBytesRead;
        _ownsStream = ownsStream;
    }

    public override string Name { get; }

    public override long? Length => _length;

    public override bool CanSkip => false;

    public override long BytesRead => _rawBytesRead?.Invoke() ?? _bytesRead;

    public override int Read(long position, Span<byte> buffer)
    {
        if (position < _position)
        {
            throw new InvalidOperationException($"{Name} is read front to back: position {position} is before {_position}");
        }
        if (position > _position)
        {
            Discard(position - _position);
            if (position > _position)
            {
                return 0; // ended before the position
            }
        }
        if (_length is { } known)
        {
            if (_position >= known)
            {
                return 0;
            }
            if (buffer.Length > known - _position)
            {
                buffer = buffer[..(int)(known - _position)];
            }
        }
        var n = ReadStream(buffer);
        _position += n;
        _bytesRead += n;
        return n;
    }

    private void Discard(long count)
    {
        var scratch = new byte[(int)Math.Min(count, 1 << 20)];
        while (count > 0)
        {
            var n = ReadStream(scratch.AsSpan(0, (int)Math.Min(count, scratch.Length)));
            if (n == 0)
            {
                return;
            }
            count -= n;
            _position += n;
            _bytesRead += n;
        }
    }

    private int ReadStream(Span<byte> buffer)
    {
        try
        {
            return _stream.Read(buffer);
        }
        catch (InvalidDataException e)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"{Name}: corrupt compressed data near output offset {_position}: {e.Message}", e) { Path = Name };
        }
        catch (IOException e)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable, $"cannot read {Name} at offset {_position}: {e.Message}", e) { Path = Name };
        }
        catch (Exception e) when (e is not ImageToolsException && e is not OperationCanceledException && e is not OutOfMemoryException)
        {
            // Third-party decompressors signal corrupt input with assorted exception types.
            throw new ImageToolsException(ErrorKind.CorruptImage, $"{Name}: corrupt compressed data near output offset {_position}: {e.Message}", e) { Path = Name };
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsStream)
        {
            _stream.Dispose();
        }
    }
}
