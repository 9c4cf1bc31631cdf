using System.Buffers.Binary;

namespace ImageTools.Core.Ext.Writer;

/// <summary>
/// Builds one inode's ext2/ext3 block map (i_block[0..11] direct, [12] IND, [13] DIND, [14] TIND;
/// docs/ext-format.md §6.1) while its data is being written, in increasing logical order.
/// A mapping block is allocated just before the first data block it maps, as mke2fs does, and only
/// when some block under it holds data: holes cost nothing, not even an indirect block. At most one
/// indirect block per level is held in memory; each is written out when the map moves past it.
/// </summary>
internal sealed class BlockMapBuilder : IBlockMapper
{
    private const int DirectBlocks = 12;
    private const int IndSlot = 12;
    private const int DindSlot = 13;
    private const int TindSlot = 14;

    private readonly BlockAllocator _allocator;
    private readonly ExtImageTarget _target;
    private readonly int _blockSize;
    private readonly long _apb;
    private readonly uint[] _iblock = new uint[15];

    private readonly MappingBlock _ind;
    private readonly MappingBlock _dind;
    private readonly MappingBlock _tind;
    private long _lastLogical = -1;

    public BlockMapBuilder(BlockAllocator allocator, ExtImageTarget target, int blockSize)
    {
        _allocator = allocator;
        _target = target;
        _blockSize = blockSize;
        _apb = blockSize / 4;
        _ind = new MappingBlock((int)_apb);
        _dind = new MappingBlock((int)_apb);
        _tind = new MappingBlock((int)_apb);
    }

    /// <summary>Data blocks mapped so far.</summary>
    public long DataBlocks { get; private set; }

    /// <summary>Indirect, double and triple indirect blocks allocated so far.</summary>
    public long MappingBlocks { get; private set; }

    /// <summary>The logical block count a block map can address at this block size (12 + apb + apb² + apb³).</summary>
    public static long MaxLogicalBlocks(int blockSize)
    {
        long apb = blockSize / 4;
        return DirectBlocks + apb + apb * apb + apb * apb * apb;
    }

    /// <summary>
    /// The first logical block after <paramref name="logical"/> that needs a different indirect block:
    /// data runs are cut there so that the next mapping block is allocated in between.
    /// </summary>
    public long SegmentEnd(long logical)
    {
        if (logical < DirectBlocks)
        {
            return DirectBlocks;
        }
        var m = logical - DirectBlocks;
        return logical - (m % _apb) + _apb;
    }

    /// <summary>
    /// Maps <paramref name="count"/> data blocks from <paramref name="logical"/> on (all inside one segment:
    /// see <see cref="SegmentEnd"/>), allocating mapping blocks first and then a contiguous run of data
    /// blocks. Returns the physical start and how many were mapped (fewer when a group ends).
    /// </summary>
    public (long Physical, int Count) MapRun(long logical, int count)
    {
        if (logical <= _lastLogical)
        {
            throw new InvalidOperationException($"block map built out of order: logical {logical} after {_lastLogical}");
        }
        if (logical + count > SegmentEnd(logical))
        {
            throw new InvalidOperationException("a run may not cross an indirect-block boundary");
        }
        if (logical + count > MaxLogicalBlocks(_blockSize))
        {
            throw new InvalidOperationException("file too large for a block map");
        }
        var slots = SlotsFor(logical);
        var (physical, got) = _allocator.Allocate(count);
        for (var i = 0; i < got; i++)
        {
            var value = (uint)(physical + i);
            if (slots.Direct)
            {
                _iblock[logical + i] = value;
            }
            else
            {
                slots.Block!.Entries[slots.Index + i] = value;
            }
        }
        DataBlocks += got;
        _lastLogical = logical + got - 1;
        return (physical, got);
    }

    /// <summary>Writes the pending indirect blocks and returns i_block[0..14].</summary>
    public uint[] Finish()
    {
        Flush(_ind);
        Flush(_dind);
        Flush(_tind);
        return _iblock;
    }

    private (bool Direct, MappingBlock? Block, int Index) SlotsFor(long logical)
    {
        if (logical < DirectBlocks)
        {
            return (true, null, 0);
        }
        var m = logical - DirectBlocks;
        if (m < _apb)
        {
            var ind = Open(_ind, DirectBlocks, () => ref _iblock[IndSlot]);
            return (false, ind, (int)m);
        }
        m -= _apb;
        if (m < _apb * _apb)
        {
            var dindBase = DirectBlocks + _apb;
            var dind = Open(_dind, dindBase, () => ref _iblock[DindSlot]);
            var indIndex = (int)(m / _apb);
            var ind = Open(_ind, dindBase + indIndex * _apb, () => ref dind.Entries[indIndex]);
            return (false, ind, (int)(m % _apb));
        }
        m -= _apb * _apb;
        {
            var tindBase = DirectBlocks + _apb + _apb * _apb;
            var tind = Open(_tind, tindBase, () => ref _iblock[TindSlot]);
            var dindIndex = (int)(m / (_apb * _apb));
            var dindBase = tindBase + dindIndex * _apb * _apb;
            var dind = Open(_dind, dindBase, () => ref tind.Entries[dindIndex]);
            var indIndex = (int)(m / _apb % _apb);
            var ind = Open(_ind, dindBase + indIndex * _apb, () => ref dind.Entries[indIndex]);
            return (false, ind, (int)(m % _apb));
        }
    }

    private delegate ref uint SlotAccessor();

    /// <summary>Makes <paramref name="block"/> the mapping block whose range starts at <paramref name="firstLogical"/>,
    /// writing out the previous one and allocating the new one (its number goes into the parent slot).</summary>
    private MappingBlock Open(MappingBlock block, long firstLogical, SlotAccessor parentSlot)
    {
        if (block.Physical != 0 && block.FirstLogical == firstLogical)
        {
            return block;
        }
        Flush(block);
        block.Physical = _allocator.AllocateOne();
        block.FirstLogical = firstLogical;
        Array.Clear(block.Entries);
        parentSlot() = (uint)block.Physical;
        MappingBlocks++;
        return block;
    }

    private void Flush(MappingBlock block)
    {
        if (block.Physical == 0)
        {
            return;
        }
        var bytes = new byte[_blockSize];
        for (var i = 0; i < block.Entries.Length; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i * 4), block.Entries[i]);
        }
        _target.Write(block.Physical * _blockSize, bytes);
        block.Physical = 0;
    }

    private sealed class MappingBlock(int entries)
    {
        public uint[] Entries { get; } = new uint[entries];

        public long Physical { get; set; }

        public long FirstLogical { get; set; } = -1;
    }
}
