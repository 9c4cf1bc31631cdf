namespace ImageTools.Core.Ext.Reader;

/// <summary>
/// The blocks of one ext filesystem over a seekable stream: an image file, or a window over a disk
/// (a partition stream plugs in here). Every access is checked against the filesystem size and the
/// stream length first, so a corrupt block pointer becomes an error that names the block and the
/// structure that held it, never an exception from the stream or a read of unrelated bytes.
/// Metadata reads (indirect blocks, extent nodes, directory and xattr blocks, inode tables) go through
/// a small LRU cache; file data is read straight through. Writes are here for the in-place editor
/// that builds on this reader (hygiene): they go to the stream and drop the cached copy.
/// </summary>
public sealed class ExtBlockDevice : IDisposable
{
    /// <summary>How many metadata blocks the cache keeps.</summary>
    public const int CachedBlocks = 128;

    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly object _lock = new();
    private readonly Dictionary<ulong, LinkedListNode<(ulong Block, byte[] Data)>> _cacheIndex = new();
    private readonly LinkedList<(ulong Block, byte[] Data)> _cacheOrder = new();
    private bool _disposed;

    /// <param name="stream">A readable, seekable stream holding the filesystem from its byte 0.</param>
    /// <param name="name">What to call it in messages (a path, "disk.img partition 1").</param>
    /// <param name="leaveOpen">Whether disposing this device leaves <paramref name="stream"/> open.</param>
    public ExtBlockDevice(Stream stream, string name, bool leaveOpen = true)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanRead || !stream.CanSeek)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"{name}: reading an ext filesystem needs a readable, seekable input (decompress or copy it to a file first)") { Path = name };
        }
        _stream = stream;
        _leaveOpen = leaveOpen;
        Name = name;
        Length = stream.Length;
    }

    /// <summary>What the device is called in messages.</summary>
    public string Name { get; }

    /// <summary>Bytes in the underlying stream.</summary>
    public long Length { get; }

    /// <summary>Block size; 0 until <see cref="SetGeometry"/> is called by the filesystem.</summary>
    public int BlockSize { get; private set; }

    /// <summary>s_blocks_count: block numbers at or above it are outside the filesystem.</summary>
    public ulong BlockCount { get; private set; }

    /// <summary>Whether the stream accepts writes (the editor needs it; the reader never writes).</summary>
    public bool CanWrite => _stream.CanWrite;

    /// <summary>Sets the block size and count once the superblock has been validated.</summary>
    public void SetGeometry(int blockSize, ulong blockCount)
    {
        if (blockSize < 1024 || (blockSize & (blockSize - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "block size must be a power of two, at least 1024");
        }
        BlockSize = blockSize;
        BlockCount = blockCount;
        ClearCache();
    }

    /// <summary>Whether <paramref name="block"/> is a block number inside the filesystem.</summary>
    public bool Contains(ulong block) => block < BlockCount;

    /// <summary>Whether the run [first, first + count) lies inside the filesystem.</summary>
    public bool Contains(ulong first, ulong count) => count <= BlockCount && first <= BlockCount - count;

    /// <summary>
    /// Reads bytes at an absolute offset; fails with <see cref="ErrorKind.CorruptImage"/> when the range
    /// runs past the end of the stream (a truncated image) and names <paramref name="what"/>.
    /// </summary>
    public void ReadBytes(long offset, Span<byte> buffer, string what)
    {
        if (offset < 0 || offset > Length || buffer.Length > Length - offset)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage,
                $"{Name}: {what} at byte {offset} (+{buffer.Length}) is past the end of the {Length}-byte image (truncated?)") { Path = Name };
        }
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _stream.Position = offset;
            var done = 0;
            while (done < buffer.Length)
            {
                int n;
                try
                {
                    n = _stream.Read(buffer[done..]);
                }
                catch (IOException e)
                {
                    throw new ImageToolsException(ErrorKind.SourceUnreadable, $"{Name}: reading {what} at byte {offset + done} failed: {e.Message}", e) { Path = Name };
                }
                if (n == 0)
                {
                    throw new ImageToolsException(ErrorKind.CorruptImage,
                        $"{Name}: {what} at byte {offset + done} is past the end of the image (it ended early)") { Path = Name };
                }
                done += n;
            }
        }
    }

    /// <summary>Reads <paramref name="count"/> whole blocks starting at <paramref name="first"/> (file data: not cached).</summary>
    public void ReadBlocks(ulong first, int count, Span<byte> buffer, string what)
    {
        CheckRun(first, (ulong)count, what);
        ReadBytes(checked((long)first * BlockSize), buffer[..(count * BlockSize)], what);
    }

    /// <summary>
    /// One metadata block, through the cache. The returned array is shared with the cache: callers
    /// must not change it (copy it to edit, then <see cref="WriteBlock"/>).
    /// </summary>
    public byte[] ReadMetadataBlock(ulong block, string what)
    {
        CheckRun(block, 1, what);
        lock (_lock)
        {
            if (_cacheIndex.TryGetValue(block, out var node))
            {
                _cacheOrder.Remove(node);
                _cacheOrder.AddFirst(node);
                return node.Value.Data;
            }
        }
        var data = new byte[BlockSize];
        ReadBytes((long)block * BlockSize, data, what);
        lock (_lock)
        {
            if (!_cacheIndex.ContainsKey(block))
            {
                _cacheIndex[block] = _cacheOrder.AddFirst((block, data));
                if (_cacheOrder.Count > CachedBlocks)
                {
                    var last = _cacheOrder.Last!;
                    _cacheOrder.RemoveLast();
                    _cacheIndex.Remove(last.Value.Block);
                }
            }
        }
        return data;
    }

    /// <summary>Writes one whole block (for the editor) and drops any cached copy.</summary>
    public void WriteBlock(ulong block, ReadOnlySpan<byte> data)
    {
        if (data.Length != BlockSize)
        {
            throw new ArgumentException($"a block is {BlockSize} bytes, got {data.Length}", nameof(data));
        }
        CheckRun(block, 1, "block to write");
        WriteBytes((long)block * BlockSize, data);
    }

    /// <summary>Writes bytes at an absolute offset (the superblock, at byte 1024, is not a whole block on 2K+ block sizes) and drops cached copies.</summary>
    public void WriteBytes(long offset, ReadOnlySpan<byte> data)
    {
        if (!CanWrite)
        {
            throw new ImageToolsException(ErrorKind.DestinationUnwritable, $"{Name}: opened read-only") { Path = Name };
        }
        if (offset < 0 || offset > Length || data.Length > Length - offset)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset, $"write of {data.Length} bytes is outside the {Length}-byte image");
        }
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _stream.Position = offset;
            _stream.Write(data);
            if (BlockSize > 0)
            {
                var first = (ulong)offset / (ulong)BlockSize;
                var last = (ulong)(offset + Math.Max(data.Length, 1) - 1) / (ulong)BlockSize;
                for (var b = first; b <= last; b++)
                {
                    if (_cacheIndex.Remove(b, out var node))
                    {
                        _cacheOrder.Remove(node);
                    }
                }
            }
        }
    }

    /// <summary>Flushes written data to the stream's backing store.</summary>
    public void Flush()
    {
        lock (_lock)
        {
            _stream.Flush();
        }
    }

    private void CheckRun(ulong first, ulong count, string what)
    {
        if (BlockSize == 0)
        {
            throw new InvalidOperationException("the block size is not known yet");
        }
        if (!Contains(first, count))
        {
            throw new ImageToolsException(ErrorKind.CorruptImage,
                count == 1
                    ? $"{Name}: {what}: block {first} is outside the filesystem (it has {BlockCount} blocks)"
                    : $"{Name}: {what}: blocks {first}..{first + count - 1} are outside the filesystem (it has {BlockCount} blocks)") { Path = Name };
        }
    }

    private void ClearCache()
    {
        lock (_lock)
        {
            _cacheIndex.Clear();
            _cacheOrder.Clear();
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _cacheIndex.Clear();
            _cacheOrder.Clear();
            if (!_leaveOpen)
            {
                _stream.Dispose();
            }
        }
    }
}
