using System.Buffers.Binary;
using ImageTools.Core.Ext.OnDisk;
using ImageTools.Core.Ext.Reader;

namespace ImageTools.Core.Ext.Editor;

/// <summary>Logical blocks of a file mapped to consecutive physical blocks.</summary>
public readonly record struct MappedRun(ulong Logical, ulong Physical, ulong Count, bool Unwritten = false)
{
    public ulong LogicalEnd => Logical + Count;
}

/// <summary>Every block an inode owns: its data (mapped runs) and the blocks of its map itself.</summary>
/// <param name="Data">Data runs in logical order (unwritten extents included: they are allocated).</param>
/// <param name="MapBlocks">Indirect blocks (block maps) or extent tree nodes below the root in i_block.</param>
internal sealed record InodeBlocks(IReadOnlyList<MappedRun> Data, IReadOnlyList<ulong> MapBlocks)
{
    public ulong DataBlockCount => Data.Aggregate(0UL, (sum, r) => sum + r.Count);

    public ulong TotalBlocks => DataBlockCount + (ulong)MapBlocks.Count;
}

/// <summary>
/// Reads and writes an inode's block map as a whole, for the editor: the ext2/3 map (12 direct pointers,
/// single, double and triple indirect blocks; docs/ext-format.md §6.1) and the ext4 extent tree (§13
/// "Extents"). Unlike the reader's mappers, which answer "where is logical block N", this walks the whole
/// map, every mapping block included, because freeing a file must free all of them, including blocks past
/// i_size (fallocate KEEP_SIZE). Every pointer is checked against the filesystem, the walk is bounded by
/// its depth and by the block count, and extent nodes are checked (magic, depth, counts, checksum).
/// New maps are built only as deep as needed: extents in the inode (up to 4) or one leaf block (up to
/// (block size − 12) / 12), block maps up to the double indirect level; that covers any file the editor
/// writes (a few MiB at most) however fragmented the free space is.
/// </summary>
internal sealed class BlockTree
{
    private const int DirectPointers = 12;

    private readonly ExtFileSystem _fs;
    private readonly ExtAllocator _allocator;
    private readonly int _blockSize;
    private readonly uint _perBlock;

    public BlockTree(ExtFileSystem fs, ExtAllocator allocator)
    {
        _fs = fs;
        _allocator = allocator;
        _blockSize = fs.BlockSize;
        _perBlock = (uint)_blockSize / 4;
    }

    /// <summary>Whether i_block of this inode holds a block map or extent tree (not device numbers, a fast symlink or inline data).</summary>
    public static bool HasBlockMap(ExtInode inode) => inode.Type switch
    {
        InodeType.RegularFile or InodeType.Directory => !inode.HasInlineData,
        InodeType.SymbolicLink => !inode.HasInlineData && !ExtFileSystem.IsFastSymlink(inode),
        _ => false,
    };

    // ---- Reading the whole map -------------------------------------------------------------------

    public InodeBlocks Read(uint number, Inode record)
    {
        var data = new List<MappedRun>();
        var map = new List<ulong>();
        if (record.Flags.HasFlag(InodeFlags.Extents))
        {
            var root = ExtentHeader.TryRead(record.Block)
                ?? throw _fs.Corrupt($"inode {number}: the extent tree root in i_block has a bad magic");
            if (root.Depth > ExtentHeader.MaxDepth)
            {
                throw _fs.Corrupt($"inode {number}: extent tree depth {root.Depth} is over the maximum of {ExtentHeader.MaxDepth}");
            }
            WalkExtentNode(number, record, record.Block, root, root.Depth, "i_block", data, map);
        }
        else
        {
            for (var i = 0; i < DirectPointers; i++)
            {
                AddData(number, data, (ulong)i, record.BlockWord(i), "i_block");
            }
            ulong logical = DirectPointers;
            ulong span = _perBlock;
            for (var level = 1; level <= 3; level++)
            {
                var pointer = record.BlockWord(DirectPointers + level - 1);
                if (pointer != 0)
                {
                    WalkIndirect(number, pointer, level, logical, data, map);
                }
                logical += span;
                span *= _perBlock;
            }
        }
        CheckBound(number, data, map);
        return new InodeBlocks(data, map);
    }

    private void WalkIndirect(uint number, uint pointer, int level, ulong logicalBase, List<MappedRun> data, List<ulong> map)
    {
        CheckPointer(number, pointer, level == 1 ? "indirect block" : level == 2 ? "double indirect block" : "triple indirect block");
        map.Add(pointer);
        CheckBound(number, data, map);
        var block = _fs.Device.ReadMetadataBlock(pointer, $"inode {number} indirect block");
        ulong childSpan = 1;
        for (var l = 1; l < level; l++)
        {
            childSpan *= _perBlock;
        }
        for (var i = 0; i < _perBlock; i++)
        {
            var child = BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(i * 4));
            if (child == 0)
            {
                continue;
            }
            if (level == 1)
            {
                AddData(number, data, logicalBase + (ulong)i, child, $"indirect block {pointer}");
            }
            else
            {
                WalkIndirect(number, child, level - 1, logicalBase + (ulong)i * childSpan, data, map);
            }
        }
    }

    private void AddData(uint number, List<MappedRun> data, ulong logical, uint physical, string where)
    {
        if (physical == 0)
        {
            return;
        }
        CheckPointer(number, physical, $"data block (logical {logical}, in {where})");
        if (data.Count > 0 && data[^1].LogicalEnd == logical && data[^1].Physical + data[^1].Count == physical)
        {
            data[^1] = data[^1] with { Count = data[^1].Count + 1 };
        }
        else
        {
            data.Add(new MappedRun(logical, physical, 1));
        }
    }

    private void WalkExtentNode(uint number, Inode record, ReadOnlySpan<byte> node, ExtentHeader header, int expectedDepth, string where,
        List<MappedRun> data, List<ulong> map)
    {
        var capacity = ExtentHeader.Capacity(node.Length);
        if (header.Depth != expectedDepth || header.Max > capacity || header.Entries > header.Max)
        {
            throw _fs.Corrupt($"inode {number}: extent node in {where}: depth {header.Depth} (expected {expectedDepth}), {header.Entries} entries, max {header.Max} (at most {capacity} fit)");
        }
        for (var i = 0; i < header.Entries; i++)
        {
            var at = ExtentHeader.Size + i * ExtentLeaf.Size;
            if (header.Depth == 0)
            {
                var leaf = ExtentLeaf.Read(node[at..]);
                if (leaf.Length == 0 || leaf.PhysicalBlock < _fs.Superblock.FirstDataBlock || leaf.PhysicalBlock == 0
                    || !_fs.Device.Contains(leaf.PhysicalBlock, (ulong)leaf.Length))
                {
                    throw _fs.Corrupt($"inode {number}: extent {i} in {where} maps {leaf.Length} blocks at block {leaf.PhysicalBlock}, outside the filesystem");
                }
                data.Add(new MappedRun(leaf.LogicalBlock, leaf.PhysicalBlock, (ulong)leaf.Length, leaf.IsUnwritten));
                CheckBound(number, data, map);
            }
            else
            {
                var index = ExtentIndex.Read(node[at..]);
                CheckPointer(number, index.ChildBlock, $"extent tree node (index {i} in {where})");
                map.Add(index.ChildBlock);
                CheckBound(number, data, map);
                var childWhere = $"extent tree block {index.ChildBlock}";
                var block = _fs.Device.ReadMetadataBlock(index.ChildBlock, $"inode {number} {childWhere}");
                var child = ExtentHeader.TryRead(block) ?? throw _fs.Corrupt($"inode {number}: {childWhere} has a bad magic");
                if (_fs.Superblock.HasMetadataChecksums)
                {
                    var tail = ExtentBlockChecksum.TailOffset(child);
                    if (tail + 4 > block.Length)
                    {
                        throw _fs.Corrupt($"inode {number}: {childWhere}: max {child.Max} entries leave no room for the checksum");
                    }
                    var stored = BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(tail));
                    var computed = ExtentBlockChecksum.Compute(_fs.Superblock.MetadataChecksumSeed, number, record.Generation, block, child);
                    if (stored != computed)
                    {
                        throw new ImageToolsException(ErrorKind.ChecksumMismatch,
                            $"{_fs.Name}: inode {number}: {childWhere}: checksum 0x{stored:X8} does not match the computed 0x{computed:X8}") { Path = _fs.Name };
                    }
                }
                WalkExtentNode(number, record, block, child, expectedDepth - 1, childWhere, data, map);
            }
        }
    }

    private void CheckPointer(uint number, ulong block, string what)
    {
        if (block == 0 || block < _fs.Superblock.FirstDataBlock || block >= _fs.BlockCount)
        {
            throw _fs.Corrupt($"inode {number}: {what} {block} is outside the filesystem (valid blocks are {_fs.Superblock.FirstDataBlock}..{_fs.BlockCount - 1})");
        }
    }

    private void CheckBound(uint number, List<MappedRun> data, List<ulong> map)
    {
        // A map that names more blocks than exist shares blocks many times over: damage, not a file.
        var total = (ulong)map.Count;
        foreach (var r in data)
        {
            total += r.Count;
        }
        if (total > _fs.BlockCount)
        {
            throw _fs.Corrupt($"inode {number}: its block map names more blocks than the filesystem has ({_fs.BlockCount})");
        }
    }

    // ---- Writing a new map ---------------------------------------------------------------------

    /// <summary>
    /// Builds a map for <paramref name="runs"/> (sorted, not overlapping) into <paramref name="record"/>'s
    /// i_block, allocating and writing the mapping blocks it needs near <paramref name="goal"/>. Extents
    /// when <paramref name="useExtents"/> (the inode's EXTENTS flag is set to match), else a block map.
    /// Returns the mapping blocks allocated.
    /// </summary>
    public IReadOnlyList<ulong> Build(uint number, Inode record, IReadOnlyList<MappedRun> runs, bool useExtents, ulong goal)
    {
        return useExtents ? BuildExtents(number, record, runs, goal) : BuildBlockMap(number, record, runs, goal);
    }

    private IReadOnlyList<ulong> BuildExtents(uint number, Inode record, IReadOnlyList<MappedRun> runs, ulong goal)
    {
        var leaves = new List<ExtentLeaf>();
        foreach (var run in runs)
        {
            var logical = run.Logical;
            var physical = run.Physical;
            var left = run.Count;
            while (left > 0)
            {
                var length = (ushort)Math.Min(left, (ulong)ExtentLeaf.MaxInitializedLength);
                if (logical + length > uint.MaxValue)
                {
                    throw new ImageToolsException(ErrorKind.DoesNotFit, $"{_fs.Name}: inode {number}: logical block {logical} is beyond what an extent can map");
                }
                leaves.Add(new ExtentLeaf((uint)logical, length, physical));
                logical += length;
                physical += length;
                left -= length;
            }
        }
        record.Flags |= InodeFlags.Extents;
        var block = new byte[Inode.BlockAreaSize];
        const int InInode = 4;
        if (leaves.Count <= InInode)
        {
            new ExtentHeader((ushort)leaves.Count, InInode, 0, 0).Write(block);
            for (var i = 0; i < leaves.Count; i++)
            {
                leaves[i].Write(block.AsSpan(ExtentHeader.Size + i * ExtentLeaf.Size));
            }
            record.Block = block;
            return Array.Empty<ulong>();
        }
        var capacity = ExtentHeader.Capacity(_blockSize);
        if (leaves.Count > capacity)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"{_fs.Name}: inode {number}: the free space is so fragmented that its {leaves.Count} extents need more than one extent block") { Path = _fs.Name };
        }
        var leafBlock = _allocator.Allocate(1, goal, $"the extent block of inode {number}")[0].Start;
        var node = new byte[_blockSize];
        var header = new ExtentHeader((ushort)leaves.Count, (ushort)capacity, 0, 0);
        header.Write(node);
        for (var i = 0; i < leaves.Count; i++)
        {
            leaves[i].Write(node.AsSpan(ExtentHeader.Size + i * ExtentLeaf.Size));
        }
        if (_fs.Superblock.HasMetadataChecksums)
        {
            var crc = ExtentBlockChecksum.Compute(_fs.Superblock.MetadataChecksumSeed, number, record.Generation, node, header);
            BinaryPrimitives.WriteUInt32LittleEndian(node.AsSpan(ExtentBlockChecksum.TailOffset(header)), crc);
        }
        _fs.Device.WriteBlock(leafBlock, node);
        // The index key is the first logical block its child maps (e2fsck checks they agree).
        new ExtentHeader(1, InInode, 1, 0).Write(block);
        new ExtentIndex(leaves[0].LogicalBlock, leafBlock).Write(block.AsSpan(ExtentHeader.Size));
        record.Block = block;
        return new[] { leafBlock };
    }

    private IReadOnlyList<ulong> BuildBlockMap(uint number, Inode record, IReadOnlyList<MappedRun> runs, ulong goal)
    {
        record.Flags &= ~InodeFlags.Extents;
        var direct = new uint[DirectPointers];
        var single = new Dictionary<ulong, uint>();      // index in the IND block → data block
        var dbl = new Dictionary<ulong, uint>();         // index in the DIND range → data block
        ulong perBlock = _perBlock;
        foreach (var run in runs)
        {
            if (run.Physical + run.Count > uint.MaxValue)
            {
                throw new ImageToolsException(ErrorKind.DoesNotFit, $"{_fs.Name}: inode {number}: block {run.Physical + run.Count} does not fit a 32-bit block map");
            }
            for (ulong i = 0; i < run.Count; i++)
            {
                var logical = run.Logical + i;
                var physical = (uint)(run.Physical + i);
                if (logical < DirectPointers)
                {
                    direct[logical] = physical;
                }
                else if (logical < DirectPointers + perBlock)
                {
                    single[logical - DirectPointers] = physical;
                }
                else if (logical < DirectPointers + perBlock + perBlock * perBlock)
                {
                    dbl[logical - DirectPointers - perBlock] = physical;
                }
                else
                {
                    throw new ImageToolsException(ErrorKind.DoesNotFit, $"{_fs.Name}: inode {number}: logical block {logical} needs a triple indirect block, which the editor does not write") { Path = _fs.Name };
                }
            }
        }
        var needed = (single.Count > 0 ? 1UL : 0) + (dbl.Count > 0 ? 1UL + (ulong)dbl.Keys.Select(k => k / perBlock).Distinct().Count() : 0);
        var blocks = new Queue<ulong>();
        foreach (var r in _allocator.Allocate(needed, goal, $"the indirect blocks of inode {number}"))
        {
            for (ulong i = 0; i < r.Count; i++)
            {
                blocks.Enqueue(r.Start + i);
            }
        }
        var allocated = blocks.ToList();
        var area = new byte[Inode.BlockAreaSize];
        for (var i = 0; i < DirectPointers; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(area.AsSpan(i * 4), direct[i]);
        }
        if (single.Count > 0)
        {
            var ind = blocks.Dequeue();
            WritePointerBlock(ind, single.Select(p => (p.Key, p.Value)));
            BinaryPrimitives.WriteUInt32LittleEndian(area.AsSpan(DirectPointers * 4), (uint)ind);
        }
        if (dbl.Count > 0)
        {
            var dind = blocks.Dequeue();
            var children = new List<(ulong, uint)>();
            foreach (var group in dbl.GroupBy(p => p.Key / perBlock).OrderBy(g => g.Key))
            {
                var ind = blocks.Dequeue();
                WritePointerBlock(ind, group.Select(p => (p.Key % perBlock, p.Value)));
                children.Add((group.Key, (uint)ind));
            }
            WritePointerBlock(dind, children);
            BinaryPrimitives.WriteUInt32LittleEndian(area.AsSpan((DirectPointers + 1) * 4), (uint)dind);
        }
        record.Block = area;
        return allocated;
    }

    private void WritePointerBlock(ulong block, IEnumerable<(ulong Index, uint Pointer)> pointers)
    {
        var data = new byte[_blockSize];
        foreach (var (index, pointer) in pointers)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan((int)index * 4), pointer);
        }
        _fs.Device.WriteBlock(block, data);
    }

    /// <summary>An empty map: an extent header with no entries (what the kernel leaves after truncating to 0), or zeros.</summary>
    public static byte[] EmptyMap(bool extents)
    {
        var block = new byte[Inode.BlockAreaSize];
        if (extents)
        {
            new ExtentHeader(0, 4, 0, 0).Write(block);
        }
        return block;
    }
}
