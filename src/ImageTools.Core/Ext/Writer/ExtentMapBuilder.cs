using ImageTools.Core.Ext.OnDisk;

namespace ImageTools.Core.Ext.Writer;

/// <summary>What the writer needs from an inode's block mapping while it writes the inode's data in order.</summary>
internal interface IBlockMapper
{
    /// <summary>The first logical block after <paramref name="logical"/> where a run must be cut.</summary>
    long SegmentEnd(long logical);

    /// <summary>Maps up to <paramref name="count"/> blocks from <paramref name="logical"/>; returns the physical start and how many.</summary>
    (long Physical, int Count) MapRun(long logical, int count);

    long DataBlocks { get; }

    long MappingBlocks { get; }
}

/// <summary>
/// One inode's ext4 extent tree (docs/ext-format.md §13 "Extents"), built while its data is written in
/// increasing logical order. Physically contiguous runs merge into extents of at most 32768 blocks, so
/// holes stay holes and cost nothing. Up to 4 extents live in i_block; more go into leaf blocks under
/// an index in i_block (depth 1), and more leaves than 4 under further index levels. Tree blocks are
/// allocated after the data, when the run count is known; their checksums need the filesystem's
/// checksum seed, so they are handed to <see cref="TreeBlockSink"/> rather than written here.
/// </summary>
internal sealed class ExtentMapBuilder : IBlockMapper
{
    private const int InodeEntries = 4; // (60 − 12) / 12

    private readonly BlockAllocator _allocator;
    private readonly int _blockSize;
    private readonly List<ExtentLeaf> _extents = new();
    private long _lastLogical = -1;

    public ExtentMapBuilder(BlockAllocator allocator, int blockSize)
    {
        _allocator = allocator;
        _blockSize = blockSize;
    }

    /// <summary>Receives each tree block (block number, bytes without checksum, depth of the node's header).</summary>
    public delegate void TreeBlockSink(long block, byte[] bytes);

    public long DataBlocks { get; private set; }

    public long MappingBlocks { get; private set; }

    /// <summary>Logical blocks an extent-mapped file may have (32-bit logical block numbers).</summary>
    public const long MaxLogicalBlocks = 1L << 32;

    public long SegmentEnd(long logical) => long.MaxValue;

    public (long Physical, int Count) MapRun(long logical, int count)
    {
        if (logical <= _lastLogical)
        {
            throw new InvalidOperationException($"extent map built out of order: logical {logical} after {_lastLogical}");
        }
        var (physical, got) = _allocator.Allocate(count);
        Add(logical, physical, got);
        _lastLogical = logical + got - 1;
        DataBlocks += got;
        return (physical, got);
    }

    private void Add(long logical, long physical, int count)
    {
        while (count > 0)
        {
            if (_extents.Count > 0)
            {
                var last = _extents[^1];
                if (last.LogicalBlock + (long)last.Length == logical && (long)last.PhysicalBlock + last.Length == physical
                    && last.Length < ExtentLeaf.MaxInitializedLength)
                {
                    var take = Math.Min(count, ExtentLeaf.MaxInitializedLength - last.Length);
                    _extents[^1] = last with { RawLength = (ushort)(last.Length + take) };
                    logical += take;
                    physical += take;
                    count -= take;
                    continue;
                }
            }
            var first = Math.Min(count, ExtentLeaf.MaxInitializedLength);
            _extents.Add(new ExtentLeaf((uint)logical, (ushort)first, (ulong)physical));
            logical += first;
            physical += first;
            count -= first;
        }
    }

    /// <summary>Tree blocks needed for <paramref name="extents"/> extents at this block size (0 when they fit i_block).</summary>
    public static long TreeBlocks(long extents, int blockSize)
    {
        var perBlock = ExtentHeader.Capacity(blockSize);
        long total = 0;
        var count = extents;
        while (count > InodeEntries)
        {
            count = (count + perBlock - 1) / perBlock;
            total += count;
        }
        return total;
    }

    /// <summary>
    /// Builds the tree: allocates its blocks (leaves, then each index level), hands them to
    /// <paramref name="sink"/>, and returns the 60 bytes of i_block (header and root entries).
    /// </summary>
    public byte[] Finish(TreeBlockSink sink)
    {
        var iblock = new byte[Inode.BlockAreaSize];
        var perBlock = ExtentHeader.Capacity(_blockSize);
        if (_extents.Count <= InodeEntries)
        {
            new ExtentHeader((ushort)_extents.Count, InodeEntries, 0, 0).Write(iblock);
            for (var i = 0; i < _extents.Count; i++)
            {
                _extents[i].Write(iblock.AsSpan(ExtentHeader.Size + i * ExtentLeaf.Size));
            }
            return iblock;
        }

        // Level 0: leaves. Each node is (first logical block, block number).
        var level = new List<(uint Logical, long Block)>();
        ushort depth = 0;
        for (var i = 0; i < _extents.Count; i += perBlock)
        {
            var n = Math.Min(perBlock, _extents.Count - i);
            var block = new byte[_blockSize];
            new ExtentHeader((ushort)n, (ushort)perBlock, 0, 0).Write(block);
            for (var k = 0; k < n; k++)
            {
                _extents[i + k].Write(block.AsSpan(ExtentHeader.Size + k * ExtentLeaf.Size));
            }
            var at = _allocator.AllocateOne();
            MappingBlocks++;
            sink(at, block);
            level.Add((_extents[i].LogicalBlock, at));
        }
        while (level.Count > InodeEntries)
        {
            depth++;
            var next = new List<(uint Logical, long Block)>();
            for (var i = 0; i < level.Count; i += perBlock)
            {
                var n = Math.Min(perBlock, level.Count - i);
                var block = new byte[_blockSize];
                new ExtentHeader((ushort)n, (ushort)perBlock, depth, 0).Write(block);
                for (var k = 0; k < n; k++)
                {
                    new ExtentIndex(level[i + k].Logical, (ulong)level[i + k].Block).Write(block.AsSpan(ExtentHeader.Size + k * ExtentIndex.Size));
                }
                var at = _allocator.AllocateOne();
                MappingBlocks++;
                sink(at, block);
                next.Add((level[i].Logical, at));
            }
            level = next;
        }
        depth++;
        new ExtentHeader((ushort)level.Count, InodeEntries, depth, 0).Write(iblock);
        for (var k = 0; k < level.Count; k++)
        {
            new ExtentIndex(level[k].Logical, (ulong)level[k].Block).Write(iblock.AsSpan(ExtentHeader.Size + k * ExtentIndex.Size));
        }
        return iblock;
    }
}
