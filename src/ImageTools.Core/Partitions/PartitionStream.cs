namespace ImageTools.Core.Partitions;

/// <summary>
/// A window of <see cref="Length"/> bytes at <see cref="Offset"/> of a seekable disk stream, seen as a stream of its
/// own: position 0 is the partition's first byte. Reads stop at the end of the window (a read there returns 0,
/// as at the end of a file); a write that would pass the end is refused before any byte is written, and the
/// length cannot change. This is how one partition of an image is copied, read as a filesystem, or receives
/// a boot loader without being extracted.
/// <para>The disk stream's position is this stream's to set: do not share one disk stream between two
/// partition streams used concurrently.</para>
/// </summary>
public sealed class PartitionStream : Stream
{
    private readonly Stream _disk;
    private readonly bool _writable;
    private readonly bool _leaveOpen;
    private readonly long _length;
    private long _position;
    private bool _disposed;

    /// <param name="disk">A seekable stream over the whole disk.</param>
    /// <param name="offset">Byte offset of the window on the disk.</param>
    /// <param name="length">Byte length of the window.</param>
    /// <param name="writable">Whether writes are allowed (the disk stream must be writable too).</param>
    /// <param name="leaveOpen">Keep <paramref name="disk"/> open when this stream is disposed.</param>
    /// <param name="name">Names the window in messages, e.g. "disk.img partition 2".</param>
    public PartitionStream(Stream disk, long offset, long length, bool writable = false, bool leaveOpen = true, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(disk);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (!disk.CanSeek)
        {
            throw new ArgumentException("a partition stream needs a seekable disk stream", nameof(disk));
        }
        if (writable && !disk.CanWrite)
        {
            throw new ArgumentException("a writable partition stream needs a writable disk stream", nameof(disk));
        }
        _ = checked(offset + length);
        _disk = disk;
        Offset = offset;
        _length = length;
        _writable = writable;
        _leaveOpen = leaveOpen;
        Name = name ?? $"bytes {offset}-{offset + length - 1}";
    }

    /// <summary>A stream over <paramref name="partition"/> of <paramref name="disk"/>.</summary>
    public static PartitionStream Open(Stream disk, DiskPartition partition, bool writable = false, bool leaveOpen = true, string? diskName = null) =>
        new(disk, partition.Offset, partition.Length, writable, leaveOpen,
            $"{diskName ?? "disk"} partition {partition.Number}");

    /// <summary>The underlying disk stream.</summary>
    public Stream BaseStream => _disk;

    /// <summary>Byte offset of the window on the disk.</summary>
    public long Offset { get; }

    public string Name { get; }

    public override bool CanRead => !_disposed && _disk.CanRead;

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
        _disk.Position = Offset + _position;
        var read = _disk.Read(buffer);
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
        _disk.Position = Offset + _position;
        var read = await _disk.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
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
        _disk.Position = Offset + _position;
        _disk.Write(buffer);
        _position += buffer.Length;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        CheckWrite(buffer.Length);
        _disk.Position = Offset + _position;
        await _disk.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
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
            throw new IOException($"{Name}: cannot seek to {target}, before the start of the partition");
        }
        _position = target;
        return target;
    }

    /// <summary>Not supported: a partition's size is set by the partition table, not by writing.</summary>
    public override void SetLength(long value) =>
        throw new NotSupportedException($"{Name}: the size of a partition is fixed by the partition table ({_length} bytes)");

    public override void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_writable)
        {
            _disk.Flush();
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            if (!_leaveOpen)
            {
                _disk.Dispose();
            }
        }
        base.Dispose(disposing);
    }
}
