using ImageTools.Core.Ext.OnDisk;

namespace ImageTools.Core.Ext.Writer;

/// <summary>Where one block group's metadata sits (absolute block numbers).</summary>
/// <param name="Start">First block of the group.</param>
/// <param name="BlockCount">Blocks in the group (the last group may be shorter).</param>
/// <param name="HasSuperblock">Whether the group holds a superblock + GDT (+ reserved GDT) copy (sparse_super).</param>
/// <param name="BlockBitmap">bg_block_bitmap.</param>
/// <param name="InodeBitmap">bg_inode_bitmap.</param>
/// <param name="InodeTable">bg_inode_table (first block).</param>
/// <param name="DataStart">First block after the inode table: where data may go.</param>
public readonly record struct GroupLayout(long Start, long BlockCount, bool HasSuperblock, long BlockBitmap, long InodeBitmap, long InodeTable, long DataStart)
{
    /// <summary>One past the group's last block.</summary>
    public long End => Start + BlockCount;

    /// <summary>Blocks taken by metadata at the start of the group.</summary>
    public long MetadataBlocks => DataStart - Start;
}

/// <summary>
/// The shape of an ext2/ext3 filesystem as <c>mke2fs</c> 1.47 computes it (lib/ext2fs/initialize.c,
/// misc/mke2fs.c; docs/ext-format.md §1): size class, block size, bytes-per-inode ratio, inodes per
/// group rounded to whole table blocks and multiples of 8, reserved GDT blocks for online resize,
/// the last-group rule, sparse_super backups and the journal size table. A filesystem built with
/// this geometry has the same <c>dumpe2fs -h</c> geometry lines as <c>mke2fs -t ext3 -b X</c> on the
/// same size.
/// </summary>
public sealed class ExtGeometry
{
    /// <summary>First inode number available to files (s_first_ino): 1..10 are reserved, 11 is lost+found.</summary>
    public const uint FirstInode = 11;

    /// <summary>EXT2_MAX_BLOCKS per group for a given block size: one bitmap block's worth.</summary>
    private static long BitsPerBlock(int blockSize) => 8L * blockSize;

    private ExtGeometry()
    {
    }

    public ExtFilesystemType Type { get; private init; }
    public int BlockSize { get; private init; }
    public int InodeSize { get; private init; }
    public long BlocksCount { get; private init; }
    public long FirstDataBlock { get; private init; }
    public long BlocksPerGroup { get; private init; }
    public int GroupCount { get; private init; }
    public long InodesPerGroup { get; private init; }
    public long InodesCount => InodesPerGroup * GroupCount;
    public int InodeTableBlocks { get; private init; }
    public int DescriptorBlocks { get; private init; }
    public int ReservedGdtBlocks { get; private init; }
    public long ReservedBlocks { get; private init; }

    /// <summary>Journal blocks (0 for ext2).</summary>
    public int JournalBlocks { get; private init; }

    /// <summary>The size class mke2fs picked (floppy, small, default, big, huge).</summary>
    public string SizeClass { get; private init; } = "";

    /// <summary>Bytes per inode used for the count (after mke2fs' "at least one block" rule).</summary>
    public int BytesPerInode { get; private init; }

    public IReadOnlyList<GroupLayout> Groups { get; private init; } = Array.Empty<GroupLayout>();

    /// <summary>
    /// Every block taken by fixed metadata (superblock copies, descriptor tables, reserved GDT blocks,
    /// bitmaps, inode tables), as sorted, merged runs. Without flex_bg each group's run is its prefix;
    /// with flex_bg the bitmaps and inode tables of 16 groups sit together in the first of them.
    /// </summary>
    public IReadOnlyList<(long Start, long Count)> MetadataExtents { get; private init; } = Array.Empty<(long, long)>();

    /// <summary>The ext4 features in use (<see cref="Ext4Features.HasJournal"/> alone for ext3, none for ext2).</summary>
    public Ext4Features Features { get; private init; }

    /// <summary>Files and directories are mapped by extents (ext4), else by block maps.</summary>
    public bool HasExtents => Type == ExtFilesystemType.Ext4;

    public bool Is64Bit => Features.HasFlag(Ext4Features.SixtyFourBit);

    public bool HasMetadataChecksums => Features.HasFlag(Ext4Features.MetadataCsum);

    /// <summary>Groups per flex group (16, as mke2fs' default), or 0 without flex_bg.</summary>
    public int FlexGroupSize => Features.HasFlag(Ext4Features.FlexBg) ? 16 : 0;

    /// <summary>Group descriptor size: 64 bytes with 64bit, else 32.</summary>
    public int DescriptorSize => Is64Bit ? GroupDescriptor.Size64 : GroupDescriptor.Size32;

    /// <summary>Addresses per indirect block (bs / 4).</summary>
    public int AddressesPerBlock => BlockSize / 4;

    public bool HasJournal => JournalBlocks > 0;

    /// <summary>Mapping blocks of the (contiguous) journal: its extent tree, or its indirect blocks.</summary>
    public long JournalMappingBlocks => HasExtents
        ? ExtentMapBuilder.TreeBlocks((JournalBlocks + ExtentLeaf.MaxInitializedLength - 1) / ExtentLeaf.MaxInitializedLength, BlockSize)
        : MappingBlocksForDense(JournalBlocks, AddressesPerBlock);

    /// <summary>Bytes the filesystem occupies.</summary>
    public long SizeBytes => BlocksCount * BlockSize;

    /// <summary>Descriptors in one GDT block.</summary>
    public int DescriptorsPerBlock => BlockSize / DescriptorSize;

    /// <summary>
    /// s_overhead_clusters as mke2fs 1.47 records it: the blocks used by superblocks, descriptor
    /// tables (with reserved GDT), bitmaps and inode tables, plus the journal and s_first_data_block.
    /// </summary>
    public long OverheadBlocks => MetadataExtents.Sum(e => e.Count) + JournalBlocks + FirstDataBlock;

    /// <summary>Fixed-metadata blocks in [<paramref name="from"/>, <paramref name="to"/>).</summary>
    public long MetadataBlocksBetween(long from, long to)
    {
        long total = 0;
        for (var i = FirstExtentEndingAfter(from); i < MetadataExtents.Count && MetadataExtents[i].Start < to; i++)
        {
            var (s, c) = MetadataExtents[i];
            total += Math.Min(s + c, to) - Math.Max(s, from);
        }
        return total;
    }

    /// <summary>Index of the first metadata run that ends after <paramref name="block"/> (binary search).</summary>
    public int FirstExtentEndingAfter(long block)
    {
        int lo = 0, hi = MetadataExtents.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            var (s, c) = MetadataExtents[mid];
            if (s + c <= block)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return lo;
    }

    /// <summary>Superblock copies live in groups 0, 1 and the powers of 3, 5 and 7 (sparse_super, §1.5).</summary>
    public static bool GroupHasSuperblock(long group)
    {
        if (group <= 1)
        {
            return true;
        }
        if ((group & 1) == 0)
        {
            return false;
        }
        return IsPowerOf(group, 3) || IsPowerOf(group, 5) || IsPowerOf(group, 7);
    }

    private static bool IsPowerOf(long value, long root)
    {
        var n = root;
        while (n < value)
        {
            n *= root;
        }
        return n == value;
    }

    /// <summary>Groups other than 0 that hold backups, in increasing order (the resize inode lists them so).</summary>
    public IEnumerable<int> BackupGroups()
    {
        for (var g = 1; g < GroupCount; g++)
        {
            if (GroupHasSuperblock(g))
            {
                yield return g;
            }
        }
    }

    /// <summary>The default journal size for a block count (mkjournal.c ext2fs_default_journal_size); -1: too small.</summary>
    public static int DefaultJournalBlocks(long blocksCount) => blocksCount switch
    {
        < 2048 => -1,
        < 32768 => 1024,
        < 256 * 1024 => 4096,
        < 512 * 1024 => 8192,
        < 4096 * 1024 => 16384,
        < 8192 * 1024 => 32768,
        < 16384 * 1024 => 65536,
        < 32768 * 1024 => 131072,
        _ => 262144,
    };

    /// <summary>mke2fs' size classes, by bytes (mke2fs.c parse_fs_type).</summary>
    public static (string Name, int DefaultBlockSize, int BytesPerInode) SizeClassFor(long sizeBytes)
    {
        const long MiB = 1024 * 1024;
        return sizeBytes switch
        {
            < 3 * MiB => ("floppy", 1024, 8192),
            < 512 * MiB => ("small", 1024, 4096),
            < 4L * 1024 * 1024 * MiB => ("default", 4096, 16384),
            < 16L * 1024 * 1024 * MiB => ("big", 4096, 32768),
            _ => ("huge", 4096, 65536),
        };
    }

    /// <summary>The block size mke2fs would use for this size when none is given.</summary>
    public static int DefaultBlockSize(long sizeBytes) => SizeClassFor(sizeBytes).DefaultBlockSize;

    /// <summary>
    /// Computes the geometry for <paramref name="options"/> at <paramref name="sizeBytes"/> bytes.
    /// Throws <see cref="ImageToolsException"/> (InvalidArgument or DoesNotFit) when mke2fs would
    /// refuse: too small, too many inodes, more blocks than 32 bits hold, or a journal that cannot fit.
    /// </summary>
    public static ExtGeometry Compute(ExtFilesystemOptions options, long sizeBytes)
    {
        var (sizeClass, classBlockSize, classRatio) = SizeClassFor(sizeBytes);
        var bs = options.BlockSize ?? classBlockSize;
        if (bs is not (1024 or 2048 or 4096))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"block size {bs} is not supported (use 1024, 2048 or 4096)");
        }
        var features = options.Type switch
        {
            ExtFilesystemType.Ext2 => Ext4Features.None,
            ExtFilesystemType.Ext3 => Ext4Features.HasJournal,
            _ => options.Features,
        };
        var descSize = features.HasFlag(Ext4Features.SixtyFourBit) ? GroupDescriptor.Size64 : GroupDescriptor.Size32;
        var flexSize = features.HasFlag(Ext4Features.FlexBg) ? 16 : 0;
        var typeName = options.Type.ToString().ToLowerInvariant();
        var isz = options.InodeSize;
        if (isz is not (128 or 256 or 512 or 1024) || isz > bs)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"inode size {isz} is not supported (use 128 or 256; at most the block size)");
        }
        if (options.ReservedPercent is < 0 or > 50)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"reserved percentage {options.ReservedPercent} is not between 0 and 50");
        }
        var ratio = options.BytesPerInode ?? classRatio;
        if (ratio < bs)
        {
            ratio = bs;
        }

        var requestedBlocks = sizeBytes / bs;
        if (requestedBlocks > uint.MaxValue)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"{sizeBytes} bytes is {requestedBlocks} blocks of {bs} bytes; the writer holds at most 2^32 - 1 blocks ({(long)uint.MaxValue * bs / (1L << 30)} GiB at this block size)");
        }
        long firstDataBlock = bs == 1024 ? 1 : 0;
        if (requestedBlocks < 64)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit, $"a filesystem of {sizeBytes} bytes is too small (at least 64 blocks of {bs} bytes are needed)");
        }

        long requestedInodes;
        if (options.InodeCount is long wanted)
        {
            if (wanted <= 0 || wanted > uint.MaxValue)
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument, $"inode count {wanted} is not between 1 and 2^32 - 1");
            }
            requestedInodes = wanted;
        }
        else
        {
            requestedInodes = requestedBlocks * bs / ratio;
            if (requestedInodes > uint.MaxValue)
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument, $"too many inodes ({requestedInodes}); raise the bytes-per-inode ratio");
            }
        }
        if (requestedInodes * isz >= requestedBlocks * bs)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"{requestedInodes} inodes of {isz} bytes do not fit a filesystem of {requestedBlocks} blocks; ask for fewer inodes");
        }
        var reservedBlocksParam = (long)(options.ReservedPercent * requestedBlocks / 100.0);
        if (reservedBlocksParam >= requestedBlocks)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "the reserved blocks would take the whole filesystem");
        }

        var blocks = requestedBlocks;
        var reservedBlocks = reservedBlocksParam;
        var bpg = BitsPerBlock(bs);
        var descPerBlock = bs / descSize;
        var maxInodesPerGroup = 65536 - bs / isz; // EXT2_MAX_INODES_PER_GROUP

        while (true)
        {
            var groups = CeilDiv(blocks - firstDataBlock, bpg);
            var descBlocks = (int)CeilDiv(groups, descPerBlock);
            var ipg = CeilDiv(requestedInodes, groups);
            if (ipg > BitsPerBlock(bs))
            {
                // More inodes per group than one bitmap block can track: mke2fs shrinks the groups.
                if (bpg < 256 + 8)
                {
                    throw new ImageToolsException(ErrorKind.InvalidArgument, $"too many inodes ({requestedInodes}) for {blocks} blocks");
                }
                bpg -= 8;
                blocks = requestedBlocks;
                continue;
            }
            if (ipg > maxInodesPerGroup)
            {
                ipg = maxInodesPerGroup;
            }

            int itb;
            while (true)
            {
                // Fill whole inode-table blocks, then round down to a multiple of 8 (initialize.c).
                itb = (int)CeilDiv(ipg * isz, bs);
                var rounded = (long)itb * bs / isz;
                if (rounded < 8)
                {
                    rounded = 8;
                }
                rounded &= ~7L;
                itb = (int)CeilDiv(rounded * isz, bs);
                if (rounded * groups > uint.MaxValue)
                {
                    ipg--;
                    continue;
                }
                if (rounded * groups < FirstInode + 1)
                {
                    ipg += 8;
                    continue;
                }
                ipg = rounded;
                break;
            }

            var rsvGdt = ReservedGdtBlocksFor(blocks, firstDataBlock, bpg, descPerBlock, descBlocks, bs);
            if (rsvGdt + descBlocks > bpg * 3 / 4)
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument,
                    $"{blocks} blocks of {bs} bytes need {descBlocks} descriptor blocks per backup, more than a {typeName} group can hold without meta_bg; use a larger block size");
            }
            var fullOverhead = 3L + itb + rsvGdt + descBlocks;
            if (fullOverhead > bpg)
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument, $"too many inodes ({requestedInodes}): the inode tables would not fit their groups");
            }

            var lastGroup = groups - 1;
            var lastOverhead = 2L + itb + (GroupHasSuperblock(lastGroup) ? 1 + descBlocks + rsvGdt : 0);
            var rem = (blocks - firstDataBlock) % bpg;
            if (groups == 1 && rem != 0 && rem < lastOverhead)
            {
                throw new ImageToolsException(ErrorKind.DoesNotFit,
                    $"a filesystem of {blocks} blocks cannot hold its own metadata ({lastOverhead} blocks); make it larger");
            }
            if (rem != 0 && rem < lastOverhead + 50)
            {
                // The last group would be too small to be useful: mke2fs drops it (§1.1) and keeps the
                // reserved percentage.
                var reservedRatio = 100.0 * reservedBlocksParam / requestedBlocks;
                blocks -= rem;
                reservedBlocks = (long)(reservedRatio * blocks / 100.0);
                continue;
            }

            var layouts = new GroupLayout[groups];
            List<(long Start, long Count)> extents;
            if (flexSize == 0)
            {
                extents = new List<(long, long)>((int)groups);
                for (var g = 0; g < groups; g++)
                {
                    var start = firstDataBlock + g * bpg;
                    var count = Math.Min(bpg, blocks - start);
                    var hasSuper = GroupHasSuperblock(g);
                    var cursor = start + (hasSuper ? 1 + descBlocks + rsvGdt : 0);
                    layouts[g] = new GroupLayout(start, count, hasSuper, cursor, cursor + 1, cursor + 2, cursor + 2 + itb);
                    extents.Add((start, cursor + 2 + itb - start));
                }
            }
            else
            {
                extents = FlexLayout.Place(layouts, blocks, firstDataBlock, bpg, descBlocks, rsvGdt, itb, flexSize);
            }

            var journal = 0;
            if (features.HasFlag(Ext4Features.HasJournal))
            {
                journal = DefaultJournalBlocks(blocks);
                if (journal < 0)
                {
                    throw new ImageToolsException(ErrorKind.DoesNotFit,
                        $"a journal needs a filesystem of at least 2048 blocks; {blocks} blocks of {bs} bytes is too small (use --type ext2, -O ^has_journal or a larger size)");
                }
            }

            return new ExtGeometry
            {
                Type = options.Type,
                BlockSize = bs,
                InodeSize = isz,
                BlocksCount = blocks,
                FirstDataBlock = firstDataBlock,
                BlocksPerGroup = bpg,
                GroupCount = (int)groups,
                InodesPerGroup = ipg,
                InodeTableBlocks = itb,
                DescriptorBlocks = descBlocks,
                ReservedGdtBlocks = rsvGdt,
                ReservedBlocks = reservedBlocks,
                JournalBlocks = journal,
                SizeClass = sizeClass,
                BytesPerInode = ratio,
                Groups = layouts,
                MetadataExtents = extents,
                Features = features,
            };
        }
    }

    /// <summary>
    /// Reserved GDT blocks for growing to 1024× the size (or 2^32 blocks), capped at one indirect
    /// block's worth of addresses (initialize.c calc_reserved_gdt_blocks, §1.3).
    /// </summary>
    private static int ReservedGdtBlocksFor(long blocks, long firstDataBlock, long bpg, int descPerBlock, int descBlocks, int bs)
    {
        long maxBlocks = uint.MaxValue;
        if (blocks < maxBlocks / 1024)
        {
            maxBlocks = blocks * 1024;
        }
        var rsvGroups = CeilDiv(maxBlocks - firstDataBlock, bpg);
        var rsv = CeilDiv(rsvGroups, descPerBlock) - descBlocks;
        if (rsv > bs / 4)
        {
            rsv = bs / 4;
        }
        return (int)Math.Max(0, rsv);
    }

    private static long CeilDiv(long a, long b) => (a + b - 1) / b;

    /// <summary>The group holding <paramref name="block"/>.</summary>
    public int GroupOfBlock(long block) => (int)((block - FirstDataBlock) / BlocksPerGroup);

    /// <summary>Byte offset of an inode's slot.</summary>
    public long InodeOffset(uint inode)
    {
        var index = inode - 1L;
        var group = (int)(index / InodesPerGroup);
        var slot = index % InodesPerGroup;
        return Groups[group].InodeTable * BlockSize + slot * InodeSize;
    }

    /// <summary>
    /// Blocks a file of <paramref name="dataBlocks"/> contiguous blocks from logical 0 needs for its
    /// indirect, double and triple indirect blocks.
    /// </summary>
    public static long MappingBlocksForDense(long dataBlocks, int addressesPerBlock)
    {
        long apb = addressesPerBlock;
        var n = dataBlocks - 12;
        if (n <= 0)
        {
            return 0;
        }
        long total = 1; // IND
        n -= apb;
        if (n <= 0)
        {
            return total;
        }
        var dindChildren = Math.Min(CeilDiv(n, apb), apb);
        total += 1 + dindChildren;
        n -= apb * apb;
        if (n <= 0)
        {
            return total;
        }
        var indBlocks = CeilDiv(n, apb);
        total += 1 + CeilDiv(indBlocks, apb) + indBlocks;
        return total;
    }
}
