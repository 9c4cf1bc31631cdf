using ImageTools.Core.Streams;

namespace ImageTools.Core.Ext.Reader;

/// <summary>
/// A file's content as a read-only, seekable stream of exactly i_size bytes. Each read maps the
/// current position to a run (one extent, one stretch of contiguous pointers, or a hole) and copies
/// from it: data straight from the device, holes and unwritten extents as zeros without any read.
/// Nothing is loaded ahead, so a file of any size costs one buffer.
/// </summary>
internal sealed class ExtFileContentStream : PositionalReadStream
{
    private readonly ExtFileSystem _fs;
    private readonly ExtInode _inode;
    private readonly IBlockMapper _mapper;
    private readonly long _length;
    private readonly ulong _fileBlocks;
    private BlockRun? _run;

    public ExtFileContentStream(ExtFileSystem fs, ExtInode inode, IBlockMapper mapper, long length)
    {
        _fs = fs;
        _inode = inode;
        _mapper = mapper;
        _length = length;
        _fileBlocks = ((ulong)length + (ulong)fs.BlockSize - 1) / (ulong)fs.BlockSize;
    }

    public override long Length => _length;

    protected override string ReadOnlyReason => "the content of a file in an image is read-only";

    protected override int ReadAt(long position, Span<byte> buffer)
    {
        var blockSize = (ulong)_fs.BlockSize;
        var logical = (ulong)position / blockSize;
        var run = _run is { } cached && logical >= cached.Logical && logical < cached.End ? cached : MapAt(logical);
        _run = run;
        // The run, capped to the file's blocks, ends at this byte (or at the file's end).
        var runEndBlock = Math.Min(run.End, _fileBlocks);
        var runEndByte = (long)Math.Min((ulong)_length, runEndBlock * blockSize);
        var count = (int)Math.Min(buffer.Length, runEndByte - position);
        if (run.Kind == BlockRunKind.Data)
        {
            var physicalByte = (long)((run.Physical + (logical - run.Logical)) * blockSize) + (long)((ulong)position % blockSize);
            _fs.Device.ReadBytes(physicalByte, buffer[..count], $"inode {_inode.Number} data (logical block {logical})");
        }
        else
        {
            buffer[..count].Clear();
        }
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
}

/// <summary>The content of an inline-data file: the bytes stored in the inode, then zeros up to i_size.</summary>
internal sealed class InlineContentStream(byte[] stored, long length) : PositionalReadStream
{
    public override long Length => length;

    protected override string ReadOnlyReason => "the content of a file in an image is read-only";

    protected override int ReadAt(long position, Span<byte> buffer)
    {
        var fromStored = position < stored.Length ? (int)Math.Min(buffer.Length, stored.Length - position) : 0;
        if (fromStored > 0)
        {
            stored.AsSpan((int)position, fromStored).CopyTo(buffer);
        }
        buffer[fromStored..].Clear();
        return buffer.Length;
    }
}
