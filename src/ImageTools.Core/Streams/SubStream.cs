namespace ImageTools.Core.Streams;

/// <summary>
/// A window of <see cref="Length"/> bytes at <see cref="Offset"/> of a seekable stream, seen as a stream of its own
/// starting at 0: one partition of a disk image, a file system inside a partition. This is how a partition is
/// copied, read as a file system or given a boot loader without being extracted.
/// <list type="bullet">
/// <item>Reads stop at the end of the window: a read there returns 0, as at the end of a file.</item>
/// <item>A write that would pass the end is refused (<see cref="ErrorKind.DoesNotFit"/>) before any byte is
/// written, so nothing spills into the next partition; the length cannot change.</item>
/// <item>Writes are allowed only when asked for (<c>writable</c>), so a window opened to read cannot damage a disk.</item>
/// </list>
/// The base stream is positioned on every call, so several windows can share one base stream, one at a time
/// (never concurrently).
/// </summary>
public sealed class SubStream : Stream
{
    private readonly Stream _base;
    private readonly bool _writable;
    private readonly bool _ownsBase;
    private readonly long _length;
    private long _position;
    private bool _disposed;

    /// <param name="baseStream">A seekable stream over the whole (disk, partition...).</param>
    /// <param name="offset">Byte offset of the window in <paramref name="baseStream"/>.</param>
    /// <param name="length">Byte length of the window.</param>
    /// <param name="writable">Allow writes (the base stream must be writable too).</param>
    /// <param name="ownsBase">Dispose <paramref name="baseStream"/> with this stream.</param>
    /// <param name="name">Names the window in messages, e.g. "disk.img partition 2".</param>
    public SubStream(Stream baseStream, long offset, long length, bool writable = false, bool ownsBase = false, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(baseStream);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (!baseStream.CanSeek)
        {
            throw new ArgumentException("a sub-stream needs a seekable base stream", nameof(baseStream));
        }
        if (writable && !baseStream.CanWrite)
        {
            throw new ArgumentException("a writable sub-stream needs a writable base stream", nameof(baseStream));
        }
        _ = checked(offset + length);
        _base = baseStream;
        Offset = offset;
        _length = length;
        _writable = writable;
        _ownsBase = ownsBase;
        Name = name ?? $"bytes {offset}-{offset + length - 1}";
    }

    /// <summary>The stream the window looks into.</summary>
    public Stream BaseStream => _base;

    /// <summary>Where the window starts in the base stream.</summary>
    public long Offset { get; }

    /// <summary>Names the window in messages.</summary>
    public string Name { get; }

    public override bool CanRead => !_disposed && _base.CanRead;

    public override bool CanSeek => !_disposed;

    public override bool CanWrite => !_disposed && _writable;

    public override long Length
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _length;
        }
    }

    public override long Position
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _position;
        }
        set
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
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
        ObjectDisposedException.ThrowIf(_disposed, this);
        var remaining = _length - _position;
        if (remaining <= 0 || buffer.IsEmpty)
        {
            return 0;
        }
        if (buffer.Length > remaining)
        {
            buffer = buffer[..(int)remaining];
        }
        _base.Position = Offset + _position;
        var read = _base.Read(buffer);
        _position += read;
        return read;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var remaining = _length - _position;
        if (remaining <= 0 || buffer.IsEmpty)
        {
            return 0;
        }
        if (buffer.Length > remaining)
        {
            buffer = buffer[..(int)remaining];
        }
        _base.Position = Offset + _position;
        var read = await _base.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        _position += read;
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        Write(buffer.AsSpan(offset, count));
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        CheckWrite(buffer.Length);
        _base.Position = Offset + _position;
        _base.Write(buffer);
        _position += buffer.Length;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        CheckWrite(buffer.Length);
        _base.Position = Offset + _position;
        await _base.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        _position += buffer.Length;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private void CheckWrite(int count)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_writable)
        {
            throw new NotSupportedException($"{Name} was opened read-only");
        }
        if (_position + count > _length)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"{Name}: writing {count} bytes at offset {_position} would pass its end ({_length} bytes); nothing was written");
        }
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => _length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        if (target < 0)
        {
            throw new IOException($"{Name}: cannot seek to {target}, before the start of the window");
        }
        _position = target;
        return target;
    }

    /// <summary>Not supported: a window's size is fixed by what it is a window of (for a partition, the partition table).</summary>
    public override void SetLength(long value) =>
        throw new NotSupportedException($"{Name}: the size of a window of a larger stream is fixed ({_length} bytes)");

    public override void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_writable)
        {
            _base.Flush();
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            if (_ownsBase)
            {
                _base.Dispose();
            }
        }
        base.Dispose(disposing);
    }
}
