using System.Buffers.Binary;
using ImageTools.Core.Ext.OnDisk;

namespace ImageTools.Core.Ext.Reader;

/// <summary>What a run of logical blocks of a file holds.</summary>
public enum BlockRunKind
{
    /// <summary>Mapped to consecutive physical blocks.</summary>
    Data,
    /// <summary>Not mapped: reads as zeros.</summary>
    Hole,
    /// <summary>Allocated but never written (an unwritten extent): reads as zeros.</summary>
    Unwritten,
}

/// <summary>
/// A run of logical blocks of a file: <see cref="Count"/> blocks from <see cref="Logical"/>, mapped to
/// the physical blocks from <see cref="Physical"/> when <see cref="Kind"/> is Data. The currency between
/// the mappers, the content stream and sparse-aware consumers (export writes holes as holes).
/// </summary>
public readonly record struct BlockRun(ulong Logical, ulong Count, ulong Physical, BlockRunKind Kind)
{
    public ulong End => Logical + Count;

    public static BlockRun Hole(ulong logical, ulong count) => new(logical, count, 0, BlockRunKind.Hole);
}

/// <summary>Maps a file's logical blocks to runs; each call returns the run that starts at the block asked for.</summary>
internal interface IBlockMapper
{
    /// <summary>
    /// The run that starts at <paramref name="logical"/> and goes as far as one mapping record (or hole)
    /// does. Past the last mapped block the hole runs to the end of the address space; callers cap it.
    /// </summary>
    BlockRun Map(ulong logical);
}

/// <summary>
/// The ext2/3 block map (docs/ext-format.md §6.1): 12 direct pointers, then single, double and triple
/// indirect blocks of bs/4 pointers each. A zero pointer at any level is a hole covering its whole
/// subtree, so holes are skipped in one step however large. Every pointer is checked against the
/// filesystem before it is followed or returned.
/// </summary>
internal sealed class IndirectBlockMapper : IBlockMapper
{
    private const int DirectBlocks = 12;
    private const int IndirectSlot = 12;

    private readonly ExtFileSystem _fs;
    private readonly ExtInode _inode;
    private readonly ulong _perBlock;
    private readonly ulong _maxLogical;

    public IndirectBlockMapper(ExtFileSystem fs, ExtInode inode)
    {
        _fs = fs;
        _inode = inode;
        _perBlock = (ulong)fs.BlockSize / 4;
        _maxLogical = DirectBlocks + _perBlock + _perBlock * _perBlock + _perBlock * _perBlock * _perBlock;
    }

    public BlockRun Map(ulong logical)
    {
        if (logical >= _maxLogical)
        {
            return BlockRun.Hole(logical, ulong.MaxValue - logical);
        }
        if (logical < DirectBlocks)
        {
            var words = _inode.Record.Block.AsSpan(0, DirectBlocks * 4);
            return RunInPointerArray(words, (int)logical, logical, "i_block");
        }
        var relative = logical - DirectBlocks;
        var span = _perBlock;
        for (var level = 1; level <= 3; level++)
        {
            if (relative < span)
            {
                return Walk(_inode.Record.BlockWord(IndirectSlot + level - 1), level, relative, span, logical);
            }
            relative -= span;
            span *= _perBlock;
        }
        return BlockRun.Hole(logical, ulong.MaxValue - logical);
    }

    // Follows one pointer down a subtree of 'span' blocks at depth 'level' (1 = the pointer names an
    // indirect block whose entries are data blocks).
    private BlockRun Walk(uint pointer, int level, ulong relative, ulong span, ulong logical)
    {
        while (true)
        {
            if (pointer == 0)
            {
                return BlockRun.Hole(logical, span - relative);
            }
            var what = level switch { 1 => "indirect block", 2 => "double indirect block", _ => "triple indirect block" };
            if (!_fs.IsValidBlock(pointer))
            {
                throw _fs.Corrupt($"inode {_inode.Number}: {what} pointer {pointer} is outside the filesystem (valid blocks are {_fs.Superblock.FirstDataBlock}..{_fs.BlockCount - 1})");
            }
            var block = _fs.Device.ReadMetadataBlock(pointer, $"inode {_inode.Number} {what}");
            if (level == 1)
            {
                return RunInPointerArray(block, (int)relative, logical, $"{what} {pointer}");
            }
            var childSpan = span / _perBlock;
            var index = (int)(relative / childSpan);
            pointer = BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(index * 4));
            relative %= childSpan;
            span = childSpan;
            level--;
        }
    }

    // A run inside one array of data-block pointers: consecutive zeros make a hole, consecutive
    // physical blocks make one data run.
    private BlockRun RunInPointerArray(ReadOnlySpan<byte> words, int index, ulong logical, string where)
    {
        var count = words.Length / 4;
        var first = BinaryPrimitives.ReadUInt32LittleEndian(words[(index * 4)..]);
        var n = 1;
        if (first == 0)
        {
            while (index + n < count && BinaryPrimitives.ReadUInt32LittleEndian(words[((index + n) * 4)..]) == 0)
            {
                n++;
            }
            return BlockRun.Hole(logical, (ulong)n);
        }
        CheckDataBlock(first, logical, where);
        while (index + n < count)
        {
            var next = BinaryPrimitives.ReadUInt32LittleEndian(words[((index + n) * 4)..]);
            if (next != first + (uint)n)
            {
                break;
            }
            CheckDataBlock(next, logical + (ulong)n, where);
            n++;
        }
        return new BlockRun(logical, (ulong)n, first, BlockRunKind.Data);
    }

    private void CheckDataBlock(uint block, ulong logical, string where)
    {
        if (!_fs.IsValidBlock(block))
        {
            throw _fs.Corrupt($"inode {_inode.Number}: logical block {logical} maps to block {block} (in {where}), outside the filesystem (valid blocks are {_fs.Superblock.FirstDataBlock}..{_fs.BlockCount - 1})");
        }
    }
}

/// <summary>
/// An ext4 extent tree (docs/ext-format.md §13 "Extents"): a header and up to 4 records in i_block,
/// index nodes in blocks below, leaves of {logical, length, physical} records. Each lookup walks one
/// root-to-leaf path, checking at every node the magic, entries ≤ max ≤ capacity, the depth (≤ 5 and
/// one less than the parent's), keys strictly ascending and inside the parent's key range, extents not
/// overlapping and inside the filesystem, and (with metadata_csum) the node checksum. A walk reads at
/// most depth + 1 nodes, so no corrupt tree can make it loop or blow up.
/// </summary>
internal sealed class ExtentTreeMapper : IBlockMapper
{
    private const ulong LogicalLimit = 1UL << 32;

    private readonly ExtFileSystem _fs;
    private readonly ExtInode _inode;

    public ExtentTreeMapper(ExtFileSystem fs, ExtInode inode)
    {
        _fs = fs;
        _inode = inode;
        var root = ExtentHeader.TryRead(inode.Record.Block)
            ?? throw fs.Corrupt($"inode {inode.Number}: the extent tree root in i_block has a bad magic (0x{BinaryPrimitives.ReadUInt16LittleEndian(inode.Record.Block):X4}, expected 0xF30A)");
        if (root.Depth > ExtentHeader.MaxDepth)
        {
            throw fs.Corrupt($"inode {inode.Number}: extent tree depth {root.Depth} is over the maximum of {ExtentHeader.MaxDepth}");
        }
    }

    public BlockRun Map(ulong logical)
    {
        if (logical >= LogicalLimit)
        {
            return BlockRun.Hole(logical, ulong.MaxValue - logical);
        }
        ReadOnlySpan<byte> node = _inode.Record.Block;
        var where = "the extent tree root in i_block";
        var header = ExtentHeader.TryRead(node)!.Value;
        int expectedDepth = header.Depth;
        ulong lower = 0;
        var upper = LogicalLimit;
        while (true)
        {
            if (header.Depth != expectedDepth)
            {
                throw Bad(where, $"depth {header.Depth}, expected {expectedDepth}");
            }
            var capacity = ExtentHeader.Capacity(node.Length);
            if (header.Max > capacity || header.Entries > header.Max)
            {
                throw Bad(where, $"{header.Entries} entries, max {header.Max}; at most {capacity} fit");
            }
            if (header.Depth == 0)
            {
                return MapInLeaf(node, header, logical, lower, upper, where);
            }
            if (header.Entries == 0)
            {
                throw Bad(where, "an index node with no entries");
            }

            // Index node: the child whose key is the last one ≤ logical; the key after it bounds the child.
            var chosen = -1;
            ulong previousKey = 0;
            for (var i = 0; i < header.Entries; i++)
            {
                ulong key = ExtentIndex.Read(node[(ExtentHeader.Size + i * ExtentIndex.Size)..]).LogicalBlock;
                if (i > 0 && key <= previousKey)
                {
                    throw Bad(where, $"index keys are not ascending ({previousKey} then {key})");
                }
                if (key < lower || key >= upper)
                {
                    throw Bad(where, $"index key {key} is outside the range {lower}..{upper - 1} its parent gives it");
                }
                previousKey = key;
                if (key <= logical)
                {
                    chosen = i;
                }
            }
            if (chosen < 0)
            {
                // Before the first key: nothing maps these blocks.
                var first = ExtentIndex.Read(node[ExtentHeader.Size..]).LogicalBlock;
                return BlockRun.Hole(logical, first - logical);
            }
            var chosenIndex = ExtentIndex.Read(node[(ExtentHeader.Size + chosen * ExtentIndex.Size)..]);
            var nextKey = chosen + 1 < header.Entries
                ? ExtentIndex.Read(node[(ExtentHeader.Size + (chosen + 1) * ExtentIndex.Size)..]).LogicalBlock
                : upper;
            if (!_fs.IsValidBlock(chosenIndex.ChildBlock))
            {
                throw Bad(where, $"index entry {chosen} points to block {chosenIndex.ChildBlock}, outside the filesystem");
            }
            lower = chosenIndex.LogicalBlock;
            upper = nextKey;
            var childWhere = $"extent tree node at block {chosenIndex.ChildBlock} (depth {header.Depth - 1})";
            var block = _fs.Device.ReadMetadataBlock(chosenIndex.ChildBlock, $"inode {_inode.Number} {childWhere}");
            var childHeader = ExtentHeader.TryRead(block)
                ?? throw Bad(childWhere, $"bad magic 0x{BinaryPrimitives.ReadUInt16LittleEndian(block):X4} (expected 0xF30A)");
            VerifyNodeChecksum(block, childHeader, chosenIndex.ChildBlock, childWhere);
            node = block;
            header = childHeader;
            expectedDepth--;
            where = childWhere;
        }
    }

    private BlockRun MapInLeaf(ReadOnlySpan<byte> node, ExtentHeader header, ulong logical, ulong lower, ulong upper, string where)
    {
        ulong previousEnd = lower;
        for (var i = 0; i < header.Entries; i++)
        {
            var extent = ExtentLeaf.Read(node[(ExtentHeader.Size + i * ExtentLeaf.Size)..]);
            var length = (ulong)extent.Length;
            ulong start = extent.LogicalBlock;
            if (length == 0)
            {
                throw Bad(where, $"extent {i} (logical block {start}) has length 0");
            }
            if (start < previousEnd || start + length > upper)
            {
                throw Bad(where, start < previousEnd
                    ? $"extent {i} (logical blocks {start}..{start + length - 1}) overlaps the one before it or starts before its parent's key {lower}"
                    : $"extent {i} (logical blocks {start}..{start + length - 1}) runs past the next key {upper}");
            }
            if (extent.PhysicalBlock == 0 || extent.PhysicalBlock < _fs.Superblock.FirstDataBlock || !_fs.Device.Contains(extent.PhysicalBlock, length))
            {
                throw Bad(where, $"extent {i} maps logical blocks {start}..{start + length - 1} to blocks {extent.PhysicalBlock}..{extent.PhysicalBlock + length - 1}, outside the filesystem ({_fs.BlockCount} blocks)");
            }
            if (logical < start)
            {
                return BlockRun.Hole(logical, start - logical);
            }
            if (logical < start + length)
            {
                var offset = logical - start;
                // Keep checking the rest of the leaf only up to what we return: the caller comes back for the rest.
                return new BlockRun(logical, length - offset, extent.PhysicalBlock + offset,
                    extent.IsUnwritten ? BlockRunKind.Unwritten : BlockRunKind.Data);
            }
            previousEnd = start + length;
        }
        return BlockRun.Hole(logical, upper - logical);
    }

    private void VerifyNodeChecksum(byte[] block, ExtentHeader header, ulong blockNumber, string where)
    {
        if (!_fs.VerifiesMetadataChecksums)
        {
            return;
        }
        var tail = ExtentBlockChecksum.TailOffset(header);
        if (header.Max > ExtentHeader.Capacity(block.Length) || tail + 4 > block.Length)
        {
            throw Bad(where, $"max {header.Max} entries leave no room for the checksum");
        }
        var stored = BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(tail));
        var computed = ExtentBlockChecksum.Compute(_fs.ChecksumSeed, _inode.Number, _inode.Record.Generation, block, header);
        if (stored != computed)
        {
            throw _fs.ChecksumMismatch($"inode {_inode.Number}: {where}: checksum 0x{stored:X8} does not match the computed 0x{computed:X8}");
        }
    }

    private ImageToolsException Bad(string where, string what) => _fs.Corrupt($"inode {_inode.Number}: {where}: {what}");
}
