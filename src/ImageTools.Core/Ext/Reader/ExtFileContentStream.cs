namespace ImageTools.Core.Ext.Reader;

/// <summary>
/// A file's content as a read-only, seekable stream of exactly i_size bytes. Each read maps the
/// current position to a run (one extent, one stretch of contiguous pointers, or a hole) and copies
/// from it: data straight from the device, holes and unwritten extents as zeros without any read.
/// Nothing is loaded ahead, so a file of any size costs one buffer.
/// </summary>
internal sealed class ExtFileContentStream : Stream
{
    private readonly ExtFileSystem _fs;
    private readonly ExtInode _inode;
    private readonly IBlockMapper _mapper;
    private readonly long _length;
    private readonly ulong _fileBlocks;
    private long _position;
    private BlockRun? _run;

    public ExtFileContentStream(ExtFileSystem fs, ExtInode inode, IBlockMapper mapper, long length)
    {
        _fs = fs;
        _inode = inode;
        _mapper = mapper;
        _length = length;
        _fileBlocks = ((ulong)length + (ulong)fs.BlockSize - 1) / (ulong)fs.BlockSize;
    }

    public override bool CanRead => true;

    public override bool CanSeek => true;

    public override bool CanWrite => false;

    public override long Length => _length;

    public override long Position
    {
        get => _position;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _position = value;
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_position >= _length || buffer.IsEmpty)
        {
            return 0;
        }
        var blockSize = (ulong)_fs.BlockSize;
        var logical = (ulong)_position / blockSize;
        var run = _run is { } cached && logical >= cached.Logical && logical < cached.End ? cached : MapAt(logical);
        _run = run;
        // The run, capped to the file's blocks, ends at this byte (or at the file's end).
        var runEndBlock = Math.Min(run.End, _fileBlocks);
        var runEndByte = (long)Math.Min((ulong)_length, runEndBlock * blockSize);
        var count = (int)Math.Min(buffer.Length, runEndByte - _position);
        if (run.Kind == BlockRunKind.Data)
        {
            var physicalByte = (long)((run.Physical + (logical - run.Logical)) * blockSize) + (long)((ulong)_position % blockSize);
            _fs.Device.ReadBytes(physicalByte, buffer[..count], $"inode {_inode.Number} data (logical block {logical})");
        }
        else
        {
            buffer[..count].Clear();
        }
        _position += count;
        return count;
    }

    private BlockRun MapAt(ulong logical)
    {
        var run = _mapper.Map(logical);
        if (run.Count == 0 || run.Logical != logical)
        {
            throw new InvalidOperationException($"block mapper returned {run} for logical block {logical}");
        }
        return run;
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        var target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => _length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        Position = target;
        return target;
    }

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException("the content of a file in an image is read-only");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("the content of a file in an image is read-only");
}

/// <summary>The content of an inline-data file: the bytes stored in the inode, then zeros up to i_size.</summary>
internal sealed class InlineContentStream(byte[] stored, long length) : Stream
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

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_position >= length || buffer.IsEmpty)
        {
            return 0;
        }
        var count = (int)Math.Min(buffer.Length, length - _position);
        var fromStored = _position < stored.Length ? (int)Math.Min(count, stored.Length - _position) : 0;
        if (fromStored > 0)
        {
            stored.AsSpan((int)_position, fromStored).CopyTo(buffer);
        }
        buffer[fromStored..count].Clear();
        _position += count;
        return count;
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

    public override void SetLength(long value) => throw new NotSupportedException("the content of a file in an image is read-only");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("the content of a file in an image is read-only");
}
