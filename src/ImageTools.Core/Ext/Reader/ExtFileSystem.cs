using System.Buffers.Binary;
using ImageTools.Core.Ext.OnDisk;

namespace ImageTools.Core.Ext.Reader;

/// <summary>
/// A read-only view of an ext2/3/4 filesystem over a seekable stream (an image file, or one partition
/// of a disk through a partition stream). Opening reads and validates the superblock and refuses what
/// it cannot read, naming the feature; everything else (group descriptors, inodes, directories, file
/// content, xattrs) is read on demand, checked where it is read, and never loaded whole.
/// Failures are <see cref="ImageToolsException"/>s whose message names the image, the inode or block,
/// and what is wrong.
/// </summary>
public sealed class ExtFileSystem : IDisposable
{
    /// <summary>The root directory's inode number.</summary>
    public const uint RootInode = 2;

    /// <summary>Longest chain of symbolic links followed while resolving a path (the kernel's MAXSYMLINKS).</summary>
    public const int MaxSymlinkFollows = 40;

    /// <summary>Longest symbolic link target read (PATH_MAX).</summary>
    public const int MaxSymlinkLength = 4096;

    /// <summary>Largest xattr value (XATTR_SIZE_MAX), which bounds what an ea_inode may hold.</summary>
    public const int MaxXattrValueSize = 65536;

    private readonly ExtOpenOptions _options;
    private readonly bool _ownsDevice;
    private readonly GroupDescriptor?[] _groups;
    private readonly uint _descriptorsPerBlock;
    private readonly ulong _inodeTableBlocks;

    private ExtFileSystem(ExtBlockDevice device, Superblock superblock, ExtOpenOptions options, bool ownsDevice)
    {
        Device = device;
        Superblock = superblock;
        _options = options;
        _ownsDevice = ownsDevice;
        BlockSize = superblock.BlockSize;
        InodeSize = superblock.EffectiveInodeSize;
        Kind = ExtFeatureSupport.Classify(superblock);
        GroupCount = (uint)superblock.GroupCount;
        _groups = new GroupDescriptor?[GroupCount];
        _descriptorsPerBlock = (uint)(BlockSize / superblock.GroupDescriptorSize);
        _inodeTableBlocks = ((ulong)superblock.InodesPerGroup * (ulong)InodeSize + (ulong)BlockSize - 1) / (ulong)BlockSize;
        VerifiesMetadataChecksums = options.VerifyChecksums && superblock.HasMetadataChecksums;
        ChecksumSeed = superblock.HasMetadataChecksums ? superblock.MetadataChecksumSeed : 0;
        IsStaleRead = superblock.FeatureIncompat.HasFlag(IncompatFeatures.NeedsRecovery);
    }

    /// <summary>The blocks underneath (shared with the editor that builds on this reader).</summary>
    public ExtBlockDevice Device { get; }

    /// <summary>The primary superblock as read.</summary>
    public Superblock Superblock { get; }

    /// <summary>What the filesystem is called in messages.</summary>
    public string Name => Device.Name;

    public int BlockSize { get; }

    /// <summary>Bytes per inode slot (128 on revision 0).</summary>
    public int InodeSize { get; }

    public uint GroupCount { get; }

    public ulong BlockCount => Superblock.BlocksCount;

    public ExtKind Kind { get; }

    /// <summary>True when the journal needed recovery and the caller chose to read the stale on-disk state.</summary>
    public bool IsStaleRead { get; }

    /// <summary>Whether metadata_csum checksums are checked as structures are read.</summary>
    public bool VerifiesMetadataChecksums { get; }

    /// <summary>
    /// What was found wrong but did not stop reading: a group descriptor whose checksum fails (the kernel
    /// also mounts read-only then), an htree index node whose checksum fails (the reader does not use the
    /// index). In the order met; the structures the reader does use are verified strictly.
    /// </summary>
    public IReadOnlyList<string> Warnings => _warnings;

    private readonly List<string> _warnings = new();

    /// <summary>Records something wrong that does not stop reading (at most 100 kept: a badly damaged filesystem could repeat one forever).</summary>
    internal void AddWarning(string warning)
    {
        if (_warnings.Count < 100 && !_warnings.Contains(warning))
        {
            _warnings.Add(warning);
        }
    }

    /// <summary>The seed every metadata_csum checksum starts from.</summary>
    internal uint ChecksumSeed { get; }

    private bool HasUninitGroups => Superblock.HasMetadataChecksums || Superblock.HasGroupDescriptorChecksums;

    // ---- Opening ---------------------------------------------------------------------------------

    /// <summary>Opens the filesystem held by <paramref name="stream"/> from its byte 0.</summary>
    /// <param name="name">What to call it in messages (a path, "disk.img partition 2").</param>
    public static ExtFileSystem Open(Stream stream, string name, ExtOpenOptions? options = null, bool leaveOpen = true)
    {
        var device = new ExtBlockDevice(stream, name, leaveOpen);
        try
        {
            return Open(device, options, ownsDevice: true);
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }

    /// <summary>Opens the filesystem on a block device (the editor opens its writable device this way).</summary>
    public static ExtFileSystem Open(ExtBlockDevice device, ExtOpenOptions? options = null, bool ownsDevice = false)
    {
        options ??= ExtOpenOptions.Default;
        var sb = ReadSuperblock(device, options);
        var why = ExtFeatureSupport.WhyUnreadable(sb, options);
        if (why != null)
        {
            var what = sb.FeatureIncompat.HasFlag(IncompatFeatures.JournalDev)
                ? "cannot read this image"
                : $"cannot read this {ExtFeatureSupport.NameOf(ExtFeatureSupport.Classify(sb))} filesystem";
            throw new ImageToolsException(ErrorKind.UnsupportedFeature, $"{device.Name}: {what}: {why}") { Path = device.Name };
        }
        device.SetGeometry(sb.BlockSize, sb.BlocksCount);
        return new ExtFileSystem(device, sb, options, ownsDevice);
    }

    /// <summary>
    /// Reads and validates the primary superblock: the checks of docs/ext-format.md §13 plus the
    /// bounds everything else relies on (group count against the image, the descriptor table, the
    /// superblock checksum with metadata_csum). Does not judge features: a probe can describe a
    /// filesystem it could not read.
    /// </summary>
    public static Superblock ReadSuperblock(ExtBlockDevice device, ExtOpenOptions? options = null)
    {
        options ??= ExtOpenOptions.Default;
        var name = device.Name;
        if (device.Length < Superblock.PrimaryOffset + Superblock.Size)
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"{name}: {device.Length} bytes is too small to hold an ext2/3/4 superblock") { Path = name };
        }
        var raw = new byte[Superblock.Size];
        device.ReadBytes(Superblock.PrimaryOffset, raw, "the superblock");
        var sb = Superblock.Read(raw);
        if (sb.MagicValue != Superblock.Magic)
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"{name}: not an ext2/3/4 filesystem (no 0xEF53 magic at byte 1080)") { Path = name };
        }
        if (sb.FeatureIncompat.HasFlag(IncompatFeatures.JournalDev))
        {
            // A journal device has a superblock but no groups or inodes: nothing below applies.
            return sb;
        }
        sb.Validate(name, device.Length);
        ImageToolsException Bad(string what) => new(ErrorKind.CorruptImage, $"{name}: ext superblock: {what}") { Path = name };

        var bs = sb.BlockSize;
        if (sb.BlocksCount > (ulong)(long.MaxValue / bs))
        {
            throw Bad($"s_blocks_count {sb.BlocksCount} is beyond any possible device");
        }
        if (sb.FeatureRoCompat.HasFlag(RoCompatFeatures.Bigalloc)
            && (sb.LogClusterSize < sb.LogBlockSize || sb.LogClusterSize > sb.LogBlockSize + 16 || sb.ClustersPerGroup == 0
                || sb.ClustersPerGroup > 8u * (uint)bs
                || (ulong)sb.ClustersPerGroup << (int)(sb.LogClusterSize - sb.LogBlockSize) != sb.BlocksPerGroup))
        {
            throw Bad($"bigalloc geometry is inconsistent (s_log_cluster_size {sb.LogClusterSize}, s_clusters_per_group {sb.ClustersPerGroup}, s_blocks_per_group {sb.BlocksPerGroup})");
        }
        if (sb.EffectiveFirstInode >= sb.InodesCount)
        {
            throw Bad($"s_first_ino {sb.EffectiveFirstInode} is not below s_inodes_count {sb.InodesCount}");
        }
        var descriptorSize = sb.GroupDescriptorSize;
        var groups = sb.GroupCount;
        // Every group has a descriptor stored in the image, so their total size bounds the group count
        // (and the array the reader keeps) by the image size, whatever s_blocks_count says.
        if (groups * (ulong)descriptorSize > (ulong)device.Length)
        {
            throw Bad($"s_blocks_count {sb.BlocksCount} means {groups} groups, whose descriptors alone ({groups * (ulong)descriptorSize} bytes) cannot fit in the {device.Length}-byte image");
        }
        var descriptorBlocks = (groups + (ulong)(bs / descriptorSize) - 1) / (ulong)(bs / descriptorSize);
        if (sb.FeatureIncompat.HasFlag(IncompatFeatures.MetaBg))
        {
            if (sb.FirstMetaBg > descriptorBlocks)
            {
                throw Bad($"s_first_meta_bg {sb.FirstMetaBg} is past the {descriptorBlocks} descriptor blocks");
            }
        }
        else if (sb.FirstDataBlock + 1 + descriptorBlocks > sb.BlocksCount)
        {
            throw Bad($"the {descriptorBlocks}-block group descriptor table does not fit in the filesystem");
        }
        if (options.VerifyChecksums && sb.HasMetadataChecksums)
        {
            if (sb.ChecksumType != Superblock.ChecksumTypeCrc32c)
            {
                throw Bad($"unknown checksum type {sb.ChecksumType} (only 1, crc32c, exists)");
            }
            var computed = Crc32c.Compute(Crc32c.InitialSeed, raw.AsSpan(0, Superblock.Size - 4));
            if (computed != sb.Checksum)
            {
                throw new ImageToolsException(ErrorKind.ChecksumMismatch,
                    $"{name}: ext superblock checksum 0x{sb.Checksum:X8} does not match the computed 0x{computed:X8} (metadata_csum)") { Path = name };
            }
        }
        return sb;
    }

    // ---- Errors ----------------------------------------------------------------------------------

    /// <summary>A corruption error naming this filesystem.</summary>
    internal ImageToolsException Corrupt(string what) => new(ErrorKind.CorruptImage, $"{Name}: {what}") { Path = Name };

    internal ImageToolsException ChecksumMismatch(string what) =>
        new(ErrorKind.ChecksumMismatch, $"{Name}: {what} (metadata_csum; the structure is damaged)") { Path = Name };

    /// <summary>Whether a block may hold file data or metadata: inside the filesystem and not before the first data block.</summary>
    internal bool IsValidBlock(ulong block) => block != 0 && block >= Superblock.FirstDataBlock && block < BlockCount;

    // ---- Group descriptors -----------------------------------------------------------------------

    /// <summary>
    /// Whether group <paramref name="group"/> holds a superblock backup (docs/ext-format.md §1.5):
    /// group 0 always; with sparse_super2 only the two groups in s_backup_bgs; with sparse_super
    /// groups 1 and powers of 3, 5 and 7; otherwise every group.
    /// </summary>
    public bool GroupHasSuperblock(uint group)
    {
        if (group == 0)
        {
            return true;
        }
        if (Superblock.FeatureCompat.HasFlag(CompatFeatures.SparseSuper2))
        {
            return group == Superblock.BackupBlockGroups[0] || group == Superblock.BackupBlockGroups[1];
        }
        if (group == 1 || !Superblock.FeatureRoCompat.HasFlag(RoCompatFeatures.SparseSuper))
        {
            return true;
        }
        return IsPowerOf(group, 3) || IsPowerOf(group, 5) || IsPowerOf(group, 7);
    }

    private static bool IsPowerOf(uint value, uint radix)
    {
        ulong n = radix;
        while (n < value)
        {
            n *= radix;
        }
        return n == value;
    }

    /// <summary>First block of a group.</summary>
    public ulong GroupFirstBlock(uint group) => Superblock.FirstDataBlock + (ulong)group * Superblock.BlocksPerGroup;

    /// <summary>
    /// Where descriptor block <paramref name="index"/> of the primary table lives. Without meta_bg the
    /// table follows the superblock in group 0. With meta_bg, blocks from s_first_meta_bg on sit in the
    /// first group of their meta group, after its superblock backup if it has one. A 1 KiB-block
    /// bigalloc filesystem keeps block 0 out of group 0, which moves group 0's table one block on.
    /// </summary>
    public ulong DescriptorBlockLocation(uint index)
    {
        var groupZeroAdjust = index == 0 && BlockSize == 1024 && Superblock.LogClusterSize > Superblock.LogBlockSize ? 1UL : 0UL;
        if (!Superblock.FeatureIncompat.HasFlag(IncompatFeatures.MetaBg) || index < Superblock.FirstMetaBg)
        {
            return Superblock.FirstDataBlock + 1 + index + groupZeroAdjust;
        }
        var firstGroup = (uint)Math.Min((ulong)index * _descriptorsPerBlock, uint.MaxValue);
        return GroupFirstBlock(firstGroup) + (GroupHasSuperblock(firstGroup) ? 1UL : 0UL) + groupZeroAdjust;
    }

    /// <summary>
    /// The descriptor of <paramref name="group"/>, read on first use and checked: its checksum (crc16
    /// with uninit_bg, crc32c with metadata_csum) when checksums are verified.
    /// </summary>
    public GroupDescriptor GetGroupDescriptor(uint group)
    {
        if (group >= GroupCount)
        {
            throw new ArgumentOutOfRangeException(nameof(group), group, $"the filesystem has {GroupCount} groups");
        }
        var cached = _groups[group];
        if (cached != null)
        {
            return cached;
        }
        var size = Superblock.GroupDescriptorSize;
        var blockIndex = group / _descriptorsPerBlock;
        var location = DescriptorBlockLocation(blockIndex);
        if (!IsValidBlock(location))
        {
            throw Corrupt($"the descriptor of group {group} would be in block {location}, outside the filesystem");
        }
        var block = Device.ReadMetadataBlock(location, $"group descriptor block {blockIndex}");
        var offset = (int)(group % _descriptorsPerBlock) * size;
        var raw = block.AsSpan(offset, size);
        var descriptor = GroupDescriptor.Read(raw, size);
        if (_options.VerifyChecksums && HasUninitGroups)
        {
            var computed = descriptor.ComputeChecksum(Superblock, group);
            if (computed != descriptor.Checksum)
            {
                // The kernel still mounts read-only when descriptor checksums fail (ext4_check_descriptors);
                // so does this reader, with a warning: the fields it uses are range-checked anyway.
                AddWarning($"group {group} descriptor checksum 0x{descriptor.Checksum:X4} does not match the computed 0x{computed:X4} ({(Superblock.HasMetadataChecksums ? "metadata_csum" : "uninit_bg")}): the descriptor may be damaged");
            }
        }
        _groups[group] = descriptor;
        return descriptor;
    }

    // ---- Inodes ----------------------------------------------------------------------------------

    /// <summary>The root directory.</summary>
    public ExtInode Root => ReadInode(RootInode, "the root directory");

    /// <summary>
    /// The byte offset of inode <paramref name="number"/> in the filesystem (for the editor, which rewrites
    /// inodes in place). Checks the number, the group's inode table and, with uninit_bg/metadata_csum,
    /// that the slot was ever initialised.
    /// </summary>
    public long InodeLocation(uint number) => InodeLocation(number, "");

    private long InodeLocation(uint number, string from)
    {
        if (number == 0 || number > Superblock.InodesCount)
        {
            throw Corrupt($"inode {number}{from} is outside the filesystem (inodes 1..{Superblock.InodesCount})");
        }
        var ipg = Superblock.InodesPerGroup;
        var group = (number - 1) / ipg;
        var index = (number - 1) % ipg;
        var descriptor = GetGroupDescriptor(group);
        if (HasUninitGroups)
        {
            if (descriptor.Flags.HasFlag(GroupDescriptorFlags.InodeUninit))
            {
                throw Corrupt($"inode {number}{from} is in group {group}, whose inode table is marked uninitialised (INODE_UNINIT): the inode is not in use");
            }
            if (descriptor.ItableUnused <= ipg && index >= ipg - descriptor.ItableUnused)
            {
                throw Corrupt($"inode {number}{from} is past the {ipg - descriptor.ItableUnused} initialised inodes of group {group} (bg_itable_unused {descriptor.ItableUnused}): the inode is not in use");
            }
        }
        if (!IsValidBlock(descriptor.InodeTable) || !Device.Contains(descriptor.InodeTable, _inodeTableBlocks))
        {
            throw Corrupt($"group {group}: inode table at block {descriptor.InodeTable} ({_inodeTableBlocks} blocks) is outside the filesystem");
        }
        return (long)(descriptor.InodeTable * (ulong)BlockSize + (ulong)index * (ulong)InodeSize);
    }

    /// <summary>
    /// Reads inode <paramref name="number"/>, which something (<paramref name="referencedBy"/>, for the
    /// message) says is in use. Refuses numbers outside the filesystem, slots the group says were never
    /// initialised (INODE_UNINIT, or past bg_itable_unused: their bytes may be garbage), free (all-zero
    /// or deleted) inodes, a bad checksum, an invalid mode or i_extra_isize.
    /// </summary>
    public ExtInode ReadInode(uint number, string? referencedBy = null)
    {
        var from = referencedBy == null ? "" : $" (referenced by {referencedBy})";
        var offset = InodeLocation(number, from);
        var blockNumber = (ulong)offset / (ulong)BlockSize;
        var block = Device.ReadMetadataBlock(blockNumber, $"inode table block holding inode {number}");
        var raw = block.AsSpan((int)((ulong)offset % (ulong)BlockSize), InodeSize);
        if (VerifiesMetadataChecksums)
        {
            VerifyInodeChecksum(number, raw);
        }
        var record = Inode.Read(raw);
        if (!record.IsInUse)
        {
            throw Corrupt($"inode {number}{from} is not in use (mode 0, no links)");
        }
        if (record.LinksCount == 0 && record.Dtime != 0)
        {
            throw Corrupt($"inode {number}{from} has been deleted (no links, deletion time {record.Dtime})");
        }
        if (!Enum.IsDefined(record.Type) || record.Type == InodeType.None)
        {
            throw Corrupt($"inode {number}{from} has an invalid mode 0{Convert.ToString(record.Mode, 8)} (file type bits 0x{(int)record.Type:X4})");
        }
        if (InodeSize > Inode.BaseSize && (Inode.BaseSize + record.ExtraIsize > InodeSize || (record.ExtraIsize & 3) != 0))
        {
            throw Corrupt($"inode {number}{from} has an invalid i_extra_isize {record.ExtraIsize} (inodes are {InodeSize} bytes)");
        }
        if (record.Flags.HasFlag(InodeFlags.Encrypted))
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature, $"{Name}: inode {number}{from} is encrypted (fscrypt): its name and content cannot be read without the key") { Path = Name };
        }
        if (record.Flags.HasFlag(InodeFlags.InlineData) && !Superblock.FeatureIncompat.HasFlag(IncompatFeatures.InlineData))
        {
            throw Corrupt($"inode {number}{from} has the INLINE_DATA flag on a filesystem without the inline_data feature");
        }
        return new ExtInode(number, record, Superblock.FeatureRoCompat.HasFlag(RoCompatFeatures.HugeFile), Superblock.Is64Bit, BlockSize);
    }

    // The kernel's ext4_inode_csum: crc32c over the whole inode with both checksum fields zeroed, seeded
    // with the filesystem seed, the inode number and the generation. An all-zero inode passes (e2fsprogs).
    private void VerifyInodeChecksum(uint number, ReadOnlySpan<byte> raw)
    {
        const int offChecksumLo = 0x7C;
        const int offExtraIsize = 0x80;
        const int offChecksumHi = 0x82;
        var generation = BinaryPrimitives.ReadUInt32LittleEndian(raw[0x64..]);
        var hasHi = raw.Length > Inode.BaseSize && Inode.BaseSize + BinaryPrimitives.ReadUInt16LittleEndian(raw[offExtraIsize..]) >= offChecksumHi + 2;
        var crc = Crc32c.Append(Crc32c.Append(ChecksumSeed, number), generation);
        crc = Crc32c.Compute(crc, raw[..offChecksumLo]);
        crc = Crc32c.Compute(crc, [0, 0]);
        if (raw.Length > Inode.BaseSize)
        {
            crc = Crc32c.Compute(crc, raw[(offChecksumLo + 2)..offChecksumHi]);
            if (hasHi)
            {
                crc = Crc32c.Compute(crc, [0, 0]);
            }
            else
            {
                crc = Crc32c.Compute(crc, raw.Slice(offChecksumHi, 2));
            }
            crc = Crc32c.Compute(crc, raw[(offChecksumHi + 2)..]);
        }
        else
        {
            crc = Crc32c.Compute(crc, raw[(offChecksumLo + 2)..]);
        }
        var stored = BinaryPrimitives.ReadUInt16LittleEndian(raw[offChecksumLo..]) | (hasHi ? (uint)BinaryPrimitives.ReadUInt16LittleEndian(raw[offChecksumHi..]) << 16 : 0);
        var expected = hasHi ? crc : crc & 0xFFFF;
        if (stored != expected && raw.IndexOfAnyExcept((byte)0) >= 0)
        {
            throw ChecksumMismatch($"inode {number}: checksum 0x{stored:X} does not match the computed 0x{expected:X}");
        }
    }

    // ---- Content ---------------------------------------------------------------------------------

    internal IBlockMapper MapperFor(ExtInode inode)
    {
        if (inode.HasInlineData)
        {
            throw new InvalidOperationException("inline data has no block map");
        }
        return inode.UsesExtents ? new ExtentTreeMapper(this, inode) : new IndirectBlockMapper(this, inode);
    }

    /// <summary>
    /// The content of a regular file (or the raw bytes of any inode with a block map), read lazily:
    /// holes and unwritten extents come back as zeros without reading anything.
    /// </summary>
    public Stream OpenContent(ExtInode inode)
    {
        if (inode.Size > long.MaxValue)
        {
            throw Corrupt($"inode {inode.Number}: size {inode.Size} is beyond any possible file");
        }
        if (inode.HasInlineData)
        {
            // Past the stored bytes an inline file reads as zeros (mke2fs -d leaves all-zero files this way,
            // and e2fsck accepts it): a trailing hole, not an allocation of i_size bytes.
            return new InlineContentStream(ReadInlineData(inode), (long)inode.Size);
        }
        if (inode.Type is not (InodeType.RegularFile or InodeType.Directory or InodeType.SymbolicLink))
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"{Name}: inode {inode.Number} is a {DescribeType(inode.Type)}, which has no content") { Path = Name };
        }
        return new ExtFileContentStream(this, inode, MapperFor(inode), (long)inode.Size);
    }

    /// <summary>
    /// The runs of a file's content up to its size: data, holes and unwritten ranges, for consumers that
    /// keep sparseness (export writes holes as holes). Inline files yield nothing (their bytes are in the
    /// inode; read them with <see cref="OpenContent"/>). Fails when the file maps more data blocks than the
    /// filesystem has, which only a corrupt map (blocks shared many times over) can do.
    /// </summary>
    public IEnumerable<BlockRun> EnumerateRuns(ExtInode inode)
    {
        if (inode.HasInlineData)
        {
            yield break;
        }
        var blocks = (inode.Size + (ulong)BlockSize - 1) / (ulong)BlockSize;
        var mapper = MapperFor(inode);
        ulong logical = 0;
        ulong dataBlocks = 0;
        while (logical < blocks)
        {
            var run = mapper.Map(logical);
            var count = Math.Min(run.Count, blocks - logical);
            if (run.Kind == BlockRunKind.Data)
            {
                dataBlocks += count;
                if (dataBlocks > BlockCount)
                {
                    throw Corrupt($"inode {inode.Number} maps more data blocks than the filesystem has ({BlockCount}): its block map is corrupt");
                }
            }
            yield return run with { Count = count };
            logical += count;
        }
    }

    /// <summary>
    /// The stored bytes of an inline-data inode: i_block (60 bytes), then the system.data xattr value.
    /// Bounded by the inode size, whatever i_size says.
    /// </summary>
    internal byte[] ReadInlineData(ExtInode inode)
    {
        var extra = ExtXattrReader.FindInlineDataValue(this, inode);
        var result = new byte[Inode.BlockAreaSize + extra.Length];
        inode.Record.Block.CopyTo(result, 0);
        extra.CopyTo(result, Inode.BlockAreaSize);
        return result;
    }

    /// <summary>
    /// A symbolic link's target: in i_block for fast links (shorter than 60 bytes, no extent tree), in the
    /// inode for inline data, else in the link's one data block. Refuses empty and over-long targets.
    /// </summary>
    public byte[] ReadSymlinkTarget(ExtInode link)
    {
        if (!link.IsSymbolicLink)
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"{Name}: inode {link.Number} is not a symbolic link") { Path = Name };
        }
        var size = link.Size;
        if (size == 0)
        {
            throw Corrupt($"inode {link.Number}: symbolic link with an empty target");
        }
        if (size > MaxSymlinkLength || size > (ulong)BlockSize)
        {
            throw Corrupt($"inode {link.Number}: symbolic link target of {size} bytes is longer than possible ({Math.Min(MaxSymlinkLength, BlockSize)})");
        }
        byte[] target;
        if (link.HasInlineData)
        {
            var stored = ReadInlineData(link);
            if ((ulong)stored.Length < size)
            {
                throw Corrupt($"inode {link.Number}: inline symbolic link of {size} bytes holds only {stored.Length}");
            }
            target = stored[..(int)size];
        }
        else if (IsFastSymlink(link))
        {
            target = link.Record.Block.AsSpan(0, (int)size).ToArray();
        }
        else
        {
            target = new byte[size];
            using var content = OpenContent(link);
            content.ReadExactly(target);
        }
        if (target.AsSpan().IndexOf((byte)0) >= 0)
        {
            throw Corrupt($"inode {link.Number}: symbolic link target contains a NUL byte within its {size}-byte length");
        }
        return target;
    }

    /// <summary>
    /// A fast symlink keeps its target in i_block: e2fsprogs' rule (ext2fs_is_fast_symlink) is a size
    /// below 60 bytes; an extent-mapped link is never fast (the kernel writes short links into i_block
    /// and never gives those the extents flag).
    /// </summary>
    public static bool IsFastSymlink(ExtInode link) =>
        link.IsSymbolicLink && !link.HasInlineData && !link.UsesExtents && link.Size < Inode.BlockAreaSize;

    /// <summary>The xattrs of an inode, in-inode ones first, then the xattr block's (raw on-disk values; ACLs in disk form).</summary>
    public IReadOnlyList<ExtXattr> ReadXattrs(ExtInode inode) => ExtXattrReader.Read(this, inode, includeSystemData: false);

    // ---- Directories and paths -------------------------------------------------------------------

    /// <summary>
    /// The entries of a directory, in on-disk order, without "." and "..": a linear walk of every block
    /// (htree index blocks look like empty entries and are skipped, so every name is seen without using
    /// the index), or of the inline area. Checks every entry (rec_len, name length, inode number, names
    /// with '/' or NUL) and refuses a block mapped twice.
    /// </summary>
    public IEnumerable<ExtDirectoryEntry> ReadDirectory(ExtInode directory) => ExtDirectoryReader.Read(this, directory);

    /// <summary>The entries of a directory sorted by name bytes (deterministic output for listings and archives).</summary>
    public IReadOnlyList<ExtDirectoryEntry> ListDirectory(ExtInode directory)
    {
        var list = ReadDirectory(directory).ToList();
        list.Sort(static (a, b) => a.Name.AsSpan().SequenceCompareTo(b.Name));
        return list;
    }

    /// <summary>
    /// Resolves an absolute path inside the filesystem ("/boot/vmlinuz"). Symbolic links in the middle are
    /// followed inside the filesystem (an absolute target starts again at its root, never the host's);
    /// the last one only when <paramref name="followLast"/>. Throws <see cref="ErrorKind.NotFound"/> when a
    /// component is missing.
    /// </summary>
    public ExtInode Resolve(string path, bool followLast = false) => ResolveWithPath(path, followLast).Inode;

    /// <summary>
    /// Like <see cref="Resolve"/>, and also the path the inode was reached by once every link followed is
    /// replaced by its target ("/etc/shadow" that links to "../var/lib/shadow.real" gives "/var/lib/shadow.real"):
    /// always inside the filesystem.
    /// </summary>
    public (ExtInode Inode, string Path) ResolveWithPath(string path, bool followLast = false)
    {
        ArgumentNullException.ThrowIfNull(path);
        var stack = new List<ExtInode> { Root };
        var names = new List<string> { "" };
        var pending = new Stack<string>(SplitPath(path).Reverse());
        var follows = 0;
        while (pending.Count > 0)
        {
            var component = pending.Pop();
            if (component == ".")
            {
                continue;
            }
            if (component == "..")
            {
                if (stack.Count > 1)
                {
                    stack.RemoveAt(stack.Count - 1);
                    names.RemoveAt(names.Count - 1);
                }
                continue;
            }
            var current = stack[^1];
            if (!current.IsDirectory)
            {
                throw NotFound(path, $"'{component}' is looked up in inode {current.Number}, which is not a directory");
            }
            var wanted = System.Text.Encoding.UTF8.GetBytes(component);
            ExtDirectoryEntry? found = null;
            foreach (var entry in ReadDirectory(current))
            {
                if (entry.Name.AsSpan().SequenceEqual(wanted))
                {
                    found = entry;
                    break;
                }
            }
            if (found == null)
            {
                throw NotFound(path, $"no '{component}'");
            }
            var child = ReadInode(found.Value.Inode, $"the entry '{component}'");
            var isLast = pending.Count == 0;
            if (child.IsSymbolicLink && (!isLast || followLast))
            {
                if (++follows > MaxSymlinkFollows)
                {
                    throw Corrupt($"resolving '{path}': more than {MaxSymlinkFollows} symbolic links (a loop?)");
                }
                var target = System.Text.Encoding.UTF8.GetString(ReadSymlinkTarget(child));
                foreach (var part in SplitPath(target).Reverse())
                {
                    pending.Push(part);
                }
                if (target.StartsWith('/'))
                {
                    stack.RemoveRange(1, stack.Count - 1);
                    names.RemoveRange(1, names.Count - 1);
                }
                continue;
            }
            stack.Add(child);
            names.Add(component);
        }
        return (stack[^1], names.Count == 1 ? "/" : string.Join('/', names));
    }

    /// <summary>Like <see cref="Resolve"/>, but null when the path does not exist.</summary>
    public ExtInode? TryResolve(string path, bool followLast = false)
    {
        try
        {
            return Resolve(path, followLast);
        }
        catch (ImageToolsException e) when (e.Kind == ErrorKind.NotFound)
        {
            return null;
        }
    }

    private ImageToolsException NotFound(string path, string why) =>
        new(ErrorKind.NotFound, $"{Name}: '{path}' does not exist in the filesystem: {why}") { Path = path };

    private static IEnumerable<string> SplitPath(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>A file type in words, for messages.</summary>
    public static string DescribeType(InodeType type) => type switch
    {
        InodeType.RegularFile => "regular file",
        InodeType.Directory => "directory",
        InodeType.SymbolicLink => "symbolic link",
        InodeType.CharacterDevice => "character device",
        InodeType.BlockDevice => "block device",
        InodeType.Fifo => "FIFO",
        InodeType.Socket => "socket",
        _ => $"file of unknown type 0x{(int)type:X4}",
    };

    public void Dispose()
    {
        if (_ownsDevice)
        {
            Device.Dispose();
        }
    }
}
