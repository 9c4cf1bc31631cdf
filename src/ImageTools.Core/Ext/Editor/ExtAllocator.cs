using ImageTools.Core.Ext.OnDisk;
using ImageTools.Core.Ext.Reader;

namespace ImageTools.Core.Ext.Editor;

/// <summary>A run of consecutive physical blocks.</summary>
public readonly record struct PhysicalRun(ulong Start, ulong Count)
{
    public ulong End => Start + Count;
}

/// <summary>
/// The editor's view of the allocation state: group descriptors, block and inode bitmaps, and the
/// superblock's free counts. Everything is read from the overlay on first use, changed in memory, and
/// written back to the overlay by <see cref="WriteBack"/> with every checksum recomputed: bitmap
/// checksums (metadata_csum: crc32c over clusters_per_group/8 resp. inodes_per_group/8 bytes, low half
/// in the 32-byte descriptor, both halves in a 64-byte one), descriptor checksums (crc32c or the
/// uninit_bg crc16) and the superblock checksum.
/// <para>Groups still marked BLOCK_UNINIT or INODE_UNINIT (uninit_bg / metadata_csum) are used only
/// when no initialised group has room; their bitmap is then built the way e2fsprogs builds it
/// (ext2fs_super_and_bgd_loc2 plus every group's bitmaps and inode table that lie inside the group), and
/// the flag is cleared. Backup superblocks and descriptor tables are left as they are: the kernel does
/// not update them either (only resize does), and e2fsck compares only their geometry.</para>
/// </summary>
internal sealed class ExtAllocator
{
    private readonly ExtFileSystem _fs;
    private readonly EditOverlay _overlay;
    private readonly Superblock _sb;
    private readonly int _blockSize;
    private readonly uint _groupCount;
    private readonly GroupState?[] _groups;
    private readonly HashSet<uint> _dirtyDescriptors = new();
    private readonly bool _uninitGroups;
    private readonly List<PhysicalRun> _freedByThisEdit = new();
    private readonly List<(uint Inode, bool Directory)> _inodesFreedByThisEdit = new();

    private sealed class GroupState
    {
        public required GroupDescriptor Descriptor { get; init; }
        public byte[]? BlockBitmap { get; set; }
        public byte[]? InodeBitmap { get; set; }
        public bool BlockBitmapDirty { get; set; }
        public bool InodeBitmapDirty { get; set; }
    }

    public ExtAllocator(ExtFileSystem fs, EditOverlay overlay, Superblock superblock)
    {
        _fs = fs;
        _overlay = overlay;
        _sb = superblock;
        _blockSize = superblock.BlockSize;
        _groupCount = (uint)superblock.GroupCount;
        _groups = new GroupState?[_groupCount];
        _uninitGroups = superblock.HasMetadataChecksums || superblock.HasGroupDescriptorChecksums;
    }

    /// <summary>Blocks freed by this edit so far (each was zeroed in the overlay).</summary>
    public ulong BlocksFreed { get; private set; }

    /// <summary>Blocks allocated by this edit so far.</summary>
    public ulong BlocksAllocated { get; private set; }

    public uint GroupOfBlock(ulong block) => (uint)((block - _sb.FirstDataBlock) / _sb.BlocksPerGroup);

    public uint GroupOfInode(uint inode) => (inode - 1) / _sb.InodesPerGroup;

    public GroupDescriptor Descriptor(uint group) => State(group).Descriptor;

    /// <summary>Where inode <paramref name="number"/> lives, from the descriptor as this edit has it (new inodes too).</summary>
    public long InodeOffset(uint number)
    {
        if (number == 0 || number > _sb.InodesCount)
        {
            throw _fs.Corrupt($"inode {number} is outside the filesystem (inodes 1..{_sb.InodesCount})");
        }
        var group = GroupOfInode(number);
        var index = (number - 1) % _sb.InodesPerGroup;
        var table = Descriptor(group).InodeTable;
        return checked((long)(table * (ulong)_blockSize + index * (ulong)_sb.EffectiveInodeSize));
    }

    // ---- Blocks ------------------------------------------------------------------------------

    public bool IsBlockInUse(ulong block)
    {
        CheckBlock(block, "block");
        var group = GroupOfBlock(block);
        var bitmap = BlockBitmap(group);
        var bit = (int)(block - _fs.GroupFirstBlock(group));
        return (bitmap[bit >> 3] & (1 << (bit & 7))) != 0;
    }

    /// <summary>
    /// Frees a run of blocks: clears their bitmap bits, adds them to the group and superblock free counts,
    /// and zeroes them in the overlay (so what they held cannot be recovered from the image). A block that
    /// is already free means the filesystem's accounting is damaged: the edit stops rather than guess.
    /// </summary>
    public void Free(ulong start, ulong count, string owner)
    {
        if (count == 0)
        {
            return;
        }
        CheckBlock(start, owner);
        CheckBlock(start + count - 1, owner);
        var block = start;
        while (block < start + count)
        {
            var group = GroupOfBlock(block);
            var groupFirst = _fs.GroupFirstBlock(group);
            var groupEnd = Math.Min(groupFirst + _sb.BlocksPerGroup, _sb.BlocksCount);
            var end = Math.Min(start + count, groupEnd);
            var bitmap = BlockBitmap(group);
            for (var b = block; b < end; b++)
            {
                var bit = (int)(b - groupFirst);
                if ((bitmap[bit >> 3] & (1 << (bit & 7))) == 0)
                {
                    throw _fs.Corrupt($"{owner}: block {b} is already free in the block bitmap of group {group}: the filesystem's accounting is damaged (run e2fsck -f on it first)");
                }
                bitmap[bit >> 3] &= (byte)~(1 << (bit & 7));
            }
            var n = end - block;
            var state = State(group);
            state.BlockBitmapDirty = true;
            state.Descriptor.FreeBlocksCount += (uint)n;
            _dirtyDescriptors.Add(group);
            _sb.FreeBlocksCount += n;
            BlocksFreed += n;
            _overlay.Zero(checked((long)block * _blockSize), checked((long)n * _blockSize));
            _freedByThisEdit.Add(new PhysicalRun(block, n));
            block = end;
        }
    }

    /// <summary>
    /// Allocates <paramref name="count"/> blocks. Blocks this edit freed come first: they hold data in the
    /// image file already (in a sparse image the never-used ones are holes), so reusing them keeps the image
    /// from growing on disk, and overwrites what they held. Then as few runs as possible, searching from
    /// <paramref name="goal"/> onwards (then wrapping), initialised groups first.
    /// </summary>
    public IReadOnlyList<PhysicalRun> Allocate(ulong count, ulong goal, string purpose)
    {
        var runs = new List<PhysicalRun>();
        if (count == 0)
        {
            return runs;
        }
        if (_sb.FreeBlocksCount < count)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"{_fs.Name}: {purpose} needs {count} blocks, but only {_sb.FreeBlocksCount} are free") { Path = _fs.Name };
        }
        if (goal < _sb.FirstDataBlock || goal >= _sb.BlocksCount)
        {
            goal = _sb.FirstDataBlock;
        }
        var remaining = count;
        foreach (var freed in _freedByThisEdit.ToList())
        {
            for (var b = freed.Start; b < freed.End && remaining > 0; b++)
            {
                if (IsBlockInUse(b))
                {
                    continue;
                }
                var length = 1UL;
                while (b + length < freed.End && length < remaining && !IsBlockInUse(b + length))
                {
                    length++;
                }
                var run = new PhysicalRun(b, length);
                Take(run);
                runs.Add(run);
                remaining -= length;
                b += length - 1;
            }
        }
        if (remaining == 0)
        {
            return Merge(runs);
        }
        // First pass: the longest stretch that fits everything, anywhere in initialised groups; then take
        // what comes, first fit from the goal.
        foreach (var allowUninit in new[] { false, true })
        {
            var startGroup = GroupOfBlock(goal);
            if (remaining == count && FindRun(startGroup, count, allowUninit) is PhysicalRun whole)
            {
                Take(whole);
                runs.Add(whole);
                return Merge(runs);
            }
            for (uint i = 0; i < _groupCount && remaining > 0; i++)
            {
                var group = (startGroup + i) % _groupCount;
                var state = State(group);
                if (state.Descriptor.FreeBlocksCount == 0 || (!allowUninit && IsBlockUninit(state)))
                {
                    continue;
                }
                var bitmap = BlockBitmap(group);
                var first = _fs.GroupFirstBlock(group);
                var blocks = BlocksInGroup(group);
                for (var bit = 0; bit < blocks && remaining > 0; bit++)
                {
                    if ((bitmap[bit >> 3] & (1 << (bit & 7))) != 0)
                    {
                        continue;
                    }
                    var length = 1;
                    while (bit + length < blocks && (ulong)length < remaining && (bitmap[(bit + length) >> 3] & (1 << ((bit + length) & 7))) == 0)
                    {
                        length++;
                    }
                    var run = new PhysicalRun(first + (ulong)bit, (ulong)length);
                    Take(run);
                    runs.Add(run);
                    remaining -= (ulong)length;
                    bit += length - 1;
                }
            }
            if (remaining == 0)
            {
                return Merge(runs);
            }
        }
        throw new ImageToolsException(ErrorKind.DoesNotFit,
            $"{_fs.Name}: {purpose} needs {count} blocks; the free counts say {_sb.FreeBlocksCount + count - remaining} are free but the bitmaps hold fewer (run e2fsck -f)") { Path = _fs.Name };
    }

    private PhysicalRun? FindRun(uint startGroup, ulong count, bool allowUninit)
    {
        if (count > _sb.BlocksPerGroup)
        {
            return null;
        }
        for (uint i = 0; i < _groupCount; i++)
        {
            var group = (startGroup + i) % _groupCount;
            var state = State(group);
            if (state.Descriptor.FreeBlocksCount < count || (!allowUninit && IsBlockUninit(state)))
            {
                continue;
            }
            var bitmap = BlockBitmap(group);
            var blocks = BlocksInGroup(group);
            var runLength = 0;
            for (var bit = 0; bit < blocks; bit++)
            {
                if ((bitmap[bit >> 3] & (1 << (bit & 7))) != 0)
                {
                    runLength = 0;
                    continue;
                }
                if ((ulong)++runLength == count)
                {
                    return new PhysicalRun(_fs.GroupFirstBlock(group) + (ulong)(bit - runLength + 1), count);
                }
            }
        }
        return null;
    }

    private void Take(PhysicalRun run)
    {
        var group = GroupOfBlock(run.Start);
        var state = State(group);
        var bitmap = BlockBitmap(group);
        var first = _fs.GroupFirstBlock(group);
        for (var b = run.Start; b < run.End; b++)
        {
            var bit = (int)(b - first);
            bitmap[bit >> 3] |= (byte)(1 << (bit & 7));
        }
        state.BlockBitmapDirty = true;
        state.Descriptor.FreeBlocksCount -= (uint)run.Count;
        _dirtyDescriptors.Add(group);
        _sb.FreeBlocksCount -= run.Count;
        BlocksAllocated += run.Count;
    }

    private static List<PhysicalRun> Merge(List<PhysicalRun> runs)
    {
        runs.Sort((a, b) => a.Start.CompareTo(b.Start));
        var merged = new List<PhysicalRun>();
        foreach (var r in runs)
        {
            if (merged.Count > 0 && merged[^1].End == r.Start)
            {
                merged[^1] = new PhysicalRun(merged[^1].Start, merged[^1].Count + r.Count);
            }
            else
            {
                merged.Add(r);
            }
        }
        return merged;
    }

    /// <summary>
    /// Runs of free blocks, group by group, in initialised groups (a BLOCK_UNINIT group was never written
    /// to since mke2fs, so there is nothing old in it).
    /// </summary>
    public IEnumerable<PhysicalRun> FreeRuns()
    {
        for (uint group = 0; group < _groupCount; group++)
        {
            var state = State(group);
            if (IsBlockUninit(state) || state.Descriptor.FreeBlocksCount == 0)
            {
                continue;
            }
            var bitmap = BlockBitmap(group);
            var first = _fs.GroupFirstBlock(group);
            var blocks = BlocksInGroup(group);
            var bit = 0;
            while (bit < blocks)
            {
                if ((bitmap[bit >> 3] & (1 << (bit & 7))) != 0)
                {
                    bit++;
                    continue;
                }
                var start = bit;
                while (bit < blocks && (bitmap[bit >> 3] & (1 << (bit & 7))) == 0)
                {
                    bit++;
                }
                yield return new PhysicalRun(first + (ulong)start, (ulong)(bit - start));
            }
        }
    }

    private int BlocksInGroup(uint group) =>
        (int)Math.Min(_sb.BlocksPerGroup, _sb.BlocksCount - _fs.GroupFirstBlock(group));

    private void CheckBlock(ulong block, string owner)
    {
        if (block < _sb.FirstDataBlock || block >= _sb.BlocksCount || block == 0)
        {
            throw _fs.Corrupt($"{owner}: block {block} is outside the filesystem (valid blocks are {_sb.FirstDataBlock}..{_sb.BlocksCount - 1})");
        }
    }

    private bool IsBlockUninit(GroupState state) =>
        _uninitGroups && state.Descriptor.Flags.HasFlag(GroupDescriptorFlags.BlockUninit);

    private byte[] BlockBitmap(uint group)
    {
        var state = State(group);
        if (state.BlockBitmap != null)
        {
            return state.BlockBitmap;
        }
        if (IsBlockUninit(state))
        {
            state.BlockBitmap = BuildUninitBlockBitmap(group, state.Descriptor);
            state.Descriptor.Flags &= ~GroupDescriptorFlags.BlockUninit;
            state.BlockBitmapDirty = true;
            _dirtyDescriptors.Add(group);
            return state.BlockBitmap;
        }
        var location = state.Descriptor.BlockBitmap;
        if (!_fs.Device.Contains(location) || location < _sb.FirstDataBlock)
        {
            throw _fs.Corrupt($"group {group}: block bitmap at block {location} is outside the filesystem");
        }
        var bitmap = new byte[_blockSize];
        _fs.Device.ReadBytes((long)location * _blockSize, bitmap, $"block bitmap of group {group}");
        VerifyBitmapChecksum(group, bitmap, state.Descriptor.BlockBitmapChecksum, (int)(_sb.ClustersPerGroup / 8), "block");
        state.BlockBitmap = bitmap;
        return bitmap;
    }

    /// <summary>
    /// The bitmap of a BLOCK_UNINIT group as e2fsprogs derives it: the group's superblock backup and
    /// descriptor blocks (old layout: the whole table plus the reserved GDT blocks; meta_bg: the one
    /// descriptor block of its meta group), every group's bitmaps and inode table that lie inside it, and
    /// the padding past the end of the filesystem. Its count must agree with the descriptor's free count.
    /// </summary>
    private byte[] BuildUninitBlockBitmap(uint group, GroupDescriptor descriptor)
    {
        var bitmap = new byte[_blockSize];
        var first = _fs.GroupFirstBlock(group);
        var blocks = BlocksInGroup(group);
        void Mark(ulong block)
        {
            if (block >= first && block < first + (ulong)blocks)
            {
                var bit = (int)(block - first);
                bitmap[bit >> 3] |= (byte)(1 << (bit & 7));
            }
        }
        var descriptorsPerBlock = (uint)(_blockSize / _sb.GroupDescriptorSize);
        var descriptorBlocks = (uint)((_groupCount + descriptorsPerBlock - 1) / descriptorsPerBlock);
        var hasSuper = _fs.GroupHasSuperblock(group);
        var next = first;
        if (hasSuper)
        {
            Mark(next);
            next++;
        }
        var metaBg = _sb.FeatureIncompat.HasFlag(IncompatFeatures.MetaBg);
        var oldStyleBlocks = metaBg ? _sb.FirstMetaBg : descriptorBlocks;
        var metaGroup = group / descriptorsPerBlock;
        if (!metaBg || metaGroup < _sb.FirstMetaBg)
        {
            if (hasSuper)
            {
                for (uint i = 0; i < oldStyleBlocks + _sb.ReservedGdtBlocks; i++)
                {
                    Mark(next + i);
                }
            }
        }
        else
        {
            var index = group % descriptorsPerBlock;
            if (index == 0 || index == 1 || index == descriptorsPerBlock - 1)
            {
                Mark(next);
            }
        }
        var inodeTableBlocks = ((ulong)_sb.InodesPerGroup * (ulong)_sb.EffectiveInodeSize + (ulong)_blockSize - 1) / (ulong)_blockSize;
        for (uint g = 0; g < _groupCount; g++)
        {
            var d = g == group ? descriptor : Descriptor(g);
            Mark(d.BlockBitmap);
            Mark(d.InodeBitmap);
            for (ulong t = 0; t < inodeTableBlocks; t++)
            {
                Mark(d.InodeTable + t);
            }
        }
        var used = 0;
        for (var bit = 0; bit < blocks; bit++)
        {
            if ((bitmap[bit >> 3] & (1 << (bit & 7))) != 0)
            {
                used++;
            }
        }
        for (var bit = blocks; bit < _blockSize * 8; bit++)
        {
            bitmap[bit >> 3] |= (byte)(1 << (bit & 7));
        }
        if ((ulong)(blocks - used) != descriptor.FreeBlocksCount)
        {
            throw _fs.Corrupt($"group {group} is marked BLOCK_UNINIT with {descriptor.FreeBlocksCount} free blocks, but its metadata leaves {blocks - used}: its descriptor is damaged (run e2fsck -f)");
        }
        return bitmap;
    }

    // ---- Inodes ------------------------------------------------------------------------------

    public bool IsInodeInUse(uint inode)
    {
        var group = GroupOfInode(inode);
        var bitmap = InodeBitmap(group);
        var bit = (int)((inode - 1) % _sb.InodesPerGroup);
        return (bitmap[bit >> 3] & (1 << (bit & 7))) != 0;
    }

    /// <summary>
    /// Allocates an inode: one this edit freed if there is one (its slot of the inode table is written in
    /// the image already, so reusing it keeps a sparse image from growing), else in
    /// <paramref name="preferredGroup"/> if it has one free, else in the next group that has. Takes the lowest
    /// free slot, so it never leaves uninitialised slots below it, and moves bg_itable_unused down past it.
    /// </summary>
    public uint AllocateInode(uint preferredGroup, bool directory, string purpose)
    {
        if (_sb.FreeInodesCount == 0)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit, $"{_fs.Name}: {purpose} needs an inode, but none is free") { Path = _fs.Name };
        }
        while (_inodesFreedByThisEdit.Count > 0)
        {
            var (freed, _) = _inodesFreedByThisEdit[^1];
            _inodesFreedByThisEdit.RemoveAt(_inodesFreedByThisEdit.Count - 1);
            if (IsInodeInUse(freed))
            {
                continue;
            }
            var group = GroupOfInode(freed);
            var state = State(group);
            var bit = (int)((freed - 1) % _sb.InodesPerGroup);
            var bitmap = InodeBitmap(group);
            bitmap[bit >> 3] |= (byte)(1 << (bit & 7));
            state.InodeBitmapDirty = true;
            state.Descriptor.FreeInodesCount--;
            if (directory)
            {
                state.Descriptor.UsedDirsCount++;
            }
            _dirtyDescriptors.Add(group);
            _sb.FreeInodesCount--;
            return freed;
        }
        foreach (var allowUninit in new[] { false, true })
        {
            for (uint i = 0; i < _groupCount; i++)
            {
                var group = (preferredGroup + i) % _groupCount;
                var state = State(group);
                if (state.Descriptor.FreeInodesCount == 0
                    || (!allowUninit && _uninitGroups && state.Descriptor.Flags.HasFlag(GroupDescriptorFlags.InodeUninit)))
                {
                    continue;
                }
                var bitmap = InodeBitmap(group);
                var firstAllowed = group == 0 ? (int)_sb.EffectiveFirstInode - 1 : 0;
                for (var bit = firstAllowed; bit < _sb.InodesPerGroup; bit++)
                {
                    if ((bitmap[bit >> 3] & (1 << (bit & 7))) != 0)
                    {
                        continue;
                    }
                    bitmap[bit >> 3] |= (byte)(1 << (bit & 7));
                    state.InodeBitmapDirty = true;
                    state.Descriptor.FreeInodesCount--;
                    if (directory)
                    {
                        state.Descriptor.UsedDirsCount++;
                    }
                    if (_uninitGroups)
                    {
                        var initialised = _sb.InodesPerGroup - state.Descriptor.ItableUnused;
                        if ((uint)bit >= initialised)
                        {
                            state.Descriptor.ItableUnused = _sb.InodesPerGroup - (uint)bit - 1;
                        }
                    }
                    _dirtyDescriptors.Add(group);
                    _sb.FreeInodesCount--;
                    return group * _sb.InodesPerGroup + (uint)bit + 1;
                }
            }
        }
        throw new ImageToolsException(ErrorKind.DoesNotFit,
            $"{_fs.Name}: {purpose} needs an inode; the free counts say {_sb.FreeInodesCount} are free but the bitmaps hold none (run e2fsck -f)") { Path = _fs.Name };
    }

    /// <summary>Frees an inode in the bitmap and the counts.</summary>
    public void FreeInode(uint inode, bool directory)
    {
        var group = GroupOfInode(inode);
        var state = State(group);
        var bitmap = InodeBitmap(group);
        var bit = (int)((inode - 1) % _sb.InodesPerGroup);
        if ((bitmap[bit >> 3] & (1 << (bit & 7))) == 0)
        {
            throw _fs.Corrupt($"inode {inode} is already free in the inode bitmap of group {group}: the filesystem's accounting is damaged (run e2fsck -f on it first)");
        }
        bitmap[bit >> 3] &= (byte)~(1 << (bit & 7));
        state.InodeBitmapDirty = true;
        state.Descriptor.FreeInodesCount++;
        if (directory)
        {
            state.Descriptor.UsedDirsCount--;
        }
        _dirtyDescriptors.Add(group);
        _sb.FreeInodesCount++;
        _inodesFreedByThisEdit.Add((inode, directory));
    }

    private byte[] InodeBitmap(uint group)
    {
        var state = State(group);
        if (state.InodeBitmap != null)
        {
            return state.InodeBitmap;
        }
        var bitmap = new byte[_blockSize];
        if (_uninitGroups && state.Descriptor.Flags.HasFlag(GroupDescriptorFlags.InodeUninit))
        {
            // No inode of the group was ever used: an empty bitmap, padded past s_inodes_per_group.
            for (var bit = (int)_sb.InodesPerGroup; bit < _blockSize * 8; bit++)
            {
                bitmap[bit >> 3] |= (byte)(1 << (bit & 7));
            }
            state.Descriptor.Flags &= ~GroupDescriptorFlags.InodeUninit;
            state.InodeBitmapDirty = true;
            _dirtyDescriptors.Add(group);
        }
        else
        {
            var location = state.Descriptor.InodeBitmap;
            if (!_fs.Device.Contains(location) || location < _sb.FirstDataBlock)
            {
                throw _fs.Corrupt($"group {group}: inode bitmap at block {location} is outside the filesystem");
            }
            _fs.Device.ReadBytes((long)location * _blockSize, bitmap, $"inode bitmap of group {group}");
            VerifyBitmapChecksum(group, bitmap, state.Descriptor.InodeBitmapChecksum, (int)(_sb.InodesPerGroup / 8), "inode");
        }
        state.InodeBitmap = bitmap;
        return bitmap;
    }

    // ---- Descriptors ---------------------------------------------------------------------------

    private GroupState State(uint group)
    {
        if (group >= _groupCount)
        {
            throw new ArgumentOutOfRangeException(nameof(group), group, $"the filesystem has {_groupCount} groups");
        }
        var state = _groups[group];
        if (state != null)
        {
            return state;
        }
        var (block, offset) = DescriptorPosition(group);
        var raw = new byte[_sb.GroupDescriptorSize];
        _fs.Device.ReadBytes(block * _blockSize + offset, raw, $"group descriptor {group}");
        var descriptor = GroupDescriptor.Read(raw, raw.Length);
        if (_uninitGroups && descriptor.ComputeChecksum(_sb, group) != descriptor.Checksum)
        {
            throw new ImageToolsException(ErrorKind.ChecksumMismatch,
                $"{_fs.Name}: group {group} descriptor checksum 0x{descriptor.Checksum:X4} does not match the computed 0x{descriptor.ComputeChecksum(_sb, group):X4}: the filesystem is damaged (run e2fsck -f on it first)") { Path = _fs.Name };
        }
        // Free counts larger than the group are damage (e2fsck: "Free blocks count wrong for group"); an
        // edit that frees blocks would push them past what the descriptor can hold, so refuse before any change.
        var blocksInGroup = (ulong)BlocksInGroup(group);
        if (descriptor.FreeBlocksCount > blocksInGroup || descriptor.FreeInodesCount > _sb.InodesPerGroup || descriptor.UsedDirsCount > _sb.InodesPerGroup)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage,
                $"{_fs.Name}: group {group} descriptor says {descriptor.FreeBlocksCount} free blocks, {descriptor.FreeInodesCount} free inodes and {descriptor.UsedDirsCount} directories, " +
                $"but the group has {blocksInGroup} blocks and {_sb.InodesPerGroup} inodes: the filesystem is damaged (run e2fsck -f on it first); nothing was changed") { Path = _fs.Name };
        }
        state = new GroupState { Descriptor = descriptor };
        _groups[group] = state;
        return state;
    }

    private (long Block, int Offset) DescriptorPosition(uint group)
    {
        var perBlock = (uint)(_blockSize / _sb.GroupDescriptorSize);
        var block = _fs.DescriptorBlockLocation(group / perBlock);
        return ((long)block, (int)(group % perBlock) * _sb.GroupDescriptorSize);
    }

    private void VerifyBitmapChecksum(uint group, byte[] bitmap, uint stored, int bytes, string kind)
    {
        if (!_sb.HasMetadataChecksums)
        {
            return;
        }
        var computed = Crc32c.Compute(_sb.MetadataChecksumSeed, bitmap.AsSpan(0, bytes));
        var mask = _sb.GroupDescriptorSize >= GroupDescriptor.Size64 ? uint.MaxValue : 0xFFFFu;
        if ((computed & mask) != (stored & mask))
        {
            throw new ImageToolsException(ErrorKind.ChecksumMismatch,
                $"{_fs.Name}: group {group} {kind} bitmap checksum 0x{stored & mask:X} does not match the computed 0x{computed & mask:X}: the filesystem is damaged (run e2fsck -f on it first)") { Path = _fs.Name };
        }
    }

    /// <summary>
    /// Writes every changed bitmap and descriptor, and the superblock, into the overlay, with their
    /// checksums. Called after each editor operation, so the reader over the overlay sees the new state.
    /// </summary>
    public void WriteBack(DateTimeOffset now)
    {
        var seed = _sb.MetadataChecksumSeed;
        foreach (var group in _dirtyDescriptors.Order())
        {
            var state = _groups[group]!;
            var d = state.Descriptor;
            if (state.BlockBitmap != null && state.BlockBitmapDirty)
            {
                _fs.Device.WriteBlock(d.BlockBitmap, state.BlockBitmap);
                state.BlockBitmapDirty = false;
            }
            if (state.InodeBitmap != null && state.InodeBitmapDirty)
            {
                _fs.Device.WriteBlock(d.InodeBitmap, state.InodeBitmap);
                state.InodeBitmapDirty = false;
            }
            if (_sb.HasMetadataChecksums)
            {
                if (state.BlockBitmap != null)
                {
                    d.BlockBitmapChecksum = Crc32c.Compute(seed, state.BlockBitmap.AsSpan(0, (int)(_sb.ClustersPerGroup / 8)));
                }
                if (state.InodeBitmap != null)
                {
                    d.InodeBitmapChecksum = Crc32c.Compute(seed, state.InodeBitmap.AsSpan(0, (int)(_sb.InodesPerGroup / 8)));
                }
            }
            d.Checksum = d.ComputeChecksum(_sb, group);
            var raw = new byte[_sb.GroupDescriptorSize];
            d.Write(raw, raw.Length);
            var (block, offset) = DescriptorPosition(group);
            _fs.Device.WriteBytes(block * _blockSize + offset, raw);
        }
        _dirtyDescriptors.Clear();
        WriteSuperblock(now);
    }

    private void WriteSuperblock(DateTimeOffset now)
    {
        _sb.WriteTime = now.ToUnixTimeSeconds();
        _sb.UpdateChecksum();
        var raw = new byte[Superblock.Size];
        _sb.Write(raw);
        _fs.Device.WriteBytes(Superblock.PrimaryOffset, raw);
    }
}
