namespace ImageTools.Core.Ext.Writer;

/// <summary>
/// Places block bitmaps, inode bitmaps and inode tables with flex_bg the way libext2fs does
/// (lib/ext2fs/alloc_tables.c: ext2fs_allocate_group_table and flexbg_offset, e2fsprogs 1.47), so
/// that <c>dumpe2fs</c> shows the same locations as for <c>mke2fs -t ext4</c>: the superblock copies,
/// descriptor tables and reserved GDT blocks are taken first; then, group by group, the block bitmaps
/// of a flex group are packed together at the first free block of the flex group, the inode bitmaps
/// <c>table_offset</c> blocks later and the inode tables after them, skipping whatever is taken.
/// Free space is searched in a sorted list of taken runs, never in a bitmap of the whole filesystem.
/// </summary>
internal static class FlexLayout
{
    public static List<(long Start, long Count)> Place(GroupLayout[] layouts, long blocks, long firstDataBlock, long bpg,
        int descBlocks, int rsvGdt, int itb, int flexSize)
    {
        var groups = layouts.Length;
        var taken = new TakenRuns(blocks, firstDataBlock);
        var hasSuper = new bool[groups];
        for (var g = 0; g < groups; g++)
        {
            hasSuper[g] = ExtGeometry.GroupHasSuperblock(g);
            if (hasSuper[g])
            {
                taken.Mark(firstDataBlock + g * bpg, 1 + descBlocks + rsvGdt);
            }
        }

        var blockBitmap = new long[groups];
        var inodeBitmap = new long[groups];
        var inodeTable = new long[groups];
        long FirstBlock(long g) => firstDataBlock + g * bpg;
        long LastBlock(long g) => g == groups - 1 ? blocks - 1 : FirstBlock(g) + bpg - 1;

        long FlexbgOffset(int group, long startBlk, int remGroups, int elemSize)
        {
            var flexbg = group / flexSize;
            var size = (long)remGroups * elemSize;
            if (size > bpg / 4)
            {
                size = bpg / 4;
            }
            // Keep going where the previous group's table went, skipping small obstructions.
            if (startBlk != 0 && startBlk < blocks && taken.Find(startBlk, startBlk + size, elemSize) is long near)
            {
                return near;
            }
            startBlk = FirstBlock((long)flexSize * flexbg);
            var lastGroup = Math.Min(group | (flexSize - 1), groups - 1);
            var lastBlk = LastBlock(lastGroup);
            return taken.Find(startBlk, lastBlk, (int)size)
                ?? taken.Find(startBlk, lastBlk, elemSize)
                ?? taken.Find(firstDataBlock, lastBlk, elemSize)
                ?? 0;
        }

        for (var g = 0; g < groups; g++)
        {
            var lastGroup = Math.Min(g | (flexSize - 1), groups - 1);
            var remGroups = lastGroup - g + 1;
            var lastBlk = LastBlock(lastGroup);
            var tableOffset = flexSize;
            if (g % flexSize == 0 && lastGroup == groups - 1)
            {
                // The last flex group keeps its tables contiguous (alloc_tables.c).
                tableOffset = lastGroup & (flexSize - 1);
                tableOffset = tableOffset == 0 ? flexSize : tableOffset + 1;
            }

            var prev = g % flexSize != 0 ? blockBitmap[g - 1] + 1 : 0;
            var start = FlexbgOffset(g, prev, remGroups, 1);
            blockBitmap[g] = taken.Find(start, lastBlk, 1) ?? taken.Find(FirstBlock(g), lastBlk, 1) ?? throw NoRoom(g);
            taken.Mark(blockBitmap[g], 1);

            prev = g % flexSize != 0 ? inodeBitmap[g - 1] + 1 : blockBitmap[g] + tableOffset;
            start = FlexbgOffset(g, prev, remGroups, 1);
            inodeBitmap[g] = taken.Find(start, lastBlk, 1) ?? taken.Find(FirstBlock(g), lastBlk, 1) ?? throw NoRoom(g);
            taken.Mark(inodeBitmap[g], 1);

            prev = g % flexSize != 0 ? inodeTable[g - 1] + itb : inodeBitmap[g] + tableOffset;
            start = FlexbgOffset(g, prev, remGroups, itb);
            inodeTable[g] = taken.Find(start, lastBlk, itb) ?? throw NoRoom(g);
            taken.Mark(inodeTable[g], itb);
        }

        for (var g = 0; g < groups; g++)
        {
            var first = FirstBlock(g);
            var count = Math.Min(bpg, blocks - first);
            var prefix = first + (hasSuper[g] ? 1 + descBlocks + rsvGdt : 0);
            layouts[g] = new GroupLayout(first, count, hasSuper[g], blockBitmap[g], inodeBitmap[g], inodeTable[g], prefix);
        }
        return taken.Runs;
    }

    private static ImageToolsException NoRoom(int group) =>
        new(ErrorKind.DoesNotFit, $"the bitmaps and inode table of block group {group} do not fit; make the filesystem larger or ask for fewer inodes");

    /// <summary>Sorted, merged runs of taken blocks, with ext2fs_get_free_blocks2's search.</summary>
    private sealed class TakenRuns(long blocks, long firstDataBlock)
    {
        public List<(long Start, long Count)> Runs { get; } = new();

        public void Mark(long start, long count)
        {
            var i = IndexAfter(start);
            Runs.Insert(i, (start, count));
            // Merge with the neighbours it touches.
            if (i + 1 < Runs.Count && Runs[i].Start + Runs[i].Count == Runs[i + 1].Start)
            {
                Runs[i] = (Runs[i].Start, Runs[i].Count + Runs[i + 1].Count);
                Runs.RemoveAt(i + 1);
            }
            if (i > 0 && Runs[i - 1].Start + Runs[i - 1].Count == Runs[i].Start)
            {
                Runs[i - 1] = (Runs[i - 1].Start, Runs[i - 1].Count + Runs[i].Count);
                Runs.RemoveAt(i);
            }
        }

        /// <summary>First index whose run starts at or after <paramref name="block"/>.</summary>
        private int IndexAfter(long block)
        {
            int lo = 0, hi = Runs.Count;
            while (lo < hi)
            {
                var mid = (lo + hi) / 2;
                if (Runs[mid].Start < block)
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

        /// <summary>
        /// The first b in [start, finish) with <paramref name="num"/> free blocks from b on, or null
        /// (ext2fs_get_free_blocks2 with finish &gt; start).
        /// </summary>
        public long? Find(long start, long finish, int num)
        {
            var b = start == 0 ? firstDataBlock : start;
            while (b < finish)
            {
                if (b + num - 1 >= blocks)
                {
                    return null;
                }
                // The run that could overlap [b, b + num): the last one starting before b + num.
                var i = IndexAfter(b + num) - 1;
                if (i < 0 || Runs[i].Start + Runs[i].Count <= b)
                {
                    return b;
                }
                b = Runs[i].Start + Runs[i].Count;
            }
            return null;
        }
    }
}
