using System.Buffers.Binary;
using System.Text;

namespace ImageTools.Core.Ext.OnDisk;

/// <summary>
/// The ext2/3/4 superblock (struct ext4_super_block): 1024 bytes at byte 1024 of the filesystem,
/// whatever the block size, with backups in other groups (docs/ext-format.md §1.5, §2).
/// Every field of the structure is modelled, so Read followed by Write reproduces the bytes exactly;
/// that is what lets the hygiene editor change one field and leave the rest identical.
/// </summary>
public sealed class Superblock
{
    /// <summary>Size of the structure on disk.</summary>
    public const int Size = 1024;

    /// <summary>Byte offset of the primary superblock from the start of the filesystem.</summary>
    public const int PrimaryOffset = 1024;

    /// <summary>s_magic.</summary>
    public const ushort Magic = 0xEF53;

    /// <summary>s_state bit: cleanly unmounted.</summary>
    public const ushort StateValid = 0x1;

    /// <summary>s_state bit: errors detected.</summary>
    public const ushort StateErrors = 0x2;

    /// <summary>s_checksum_type value for crc32c.</summary>
    public const byte ChecksumTypeCrc32c = 1;

    // Field offsets (struct ext4_super_block, lib/ext2fs/ext2_fs.h).
    private const int OffInodesCount = 0x00;
    private const int OffBlocksCountLo = 0x04;
    private const int OffReservedBlocksCountLo = 0x08;
    private const int OffFreeBlocksCountLo = 0x0C;
    private const int OffFreeInodesCount = 0x10;
    private const int OffFirstDataBlock = 0x14;
    private const int OffLogBlockSize = 0x18;
    private const int OffLogClusterSize = 0x1C;
    private const int OffBlocksPerGroup = 0x20;
    private const int OffClustersPerGroup = 0x24;
    private const int OffInodesPerGroup = 0x28;
    private const int OffMountTime = 0x2C;
    private const int OffWriteTime = 0x30;
    private const int OffMountCount = 0x34;
    private const int OffMaxMountCount = 0x36;
    private const int OffMagic = 0x38;
    private const int OffState = 0x3A;
    private const int OffErrors = 0x3C;
    private const int OffMinorRevLevel = 0x3E;
    private const int OffLastCheck = 0x40;
    private const int OffCheckInterval = 0x44;
    private const int OffCreatorOs = 0x48;
    private const int OffRevLevel = 0x4C;
    private const int OffDefaultReservedUid = 0x50;
    private const int OffDefaultReservedGid = 0x52;
    private const int OffFirstInode = 0x54;
    private const int OffInodeSize = 0x58;
    private const int OffBlockGroupNumber = 0x5A;
    private const int OffFeatureCompat = 0x5C;
    private const int OffFeatureIncompat = 0x60;
    private const int OffFeatureRoCompat = 0x64;
    private const int OffUuid = 0x68;
    private const int OffVolumeName = 0x78;
    private const int OffLastMounted = 0x88;
    private const int OffAlgorithmUsageBitmap = 0xC8;
    private const int OffPreallocBlocks = 0xCC;
    private const int OffPreallocDirBlocks = 0xCD;
    private const int OffReservedGdtBlocks = 0xCE;
    private const int OffJournalUuid = 0xD0;
    private const int OffJournalInode = 0xE0;
    private const int OffJournalDevice = 0xE4;
    private const int OffLastOrphan = 0xE8;
    private const int OffHashSeed = 0xEC;
    private const int OffDefaultHashVersion = 0xFC;
    private const int OffJournalBackupType = 0xFD;
    private const int OffDescriptorSize = 0xFE;
    private const int OffDefaultMountOptions = 0x100;
    private const int OffFirstMetaBg = 0x104;
    private const int OffMkfsTime = 0x108;
    private const int OffJournalBlocks = 0x10C;
    private const int OffBlocksCountHi = 0x150;
    private const int OffReservedBlocksCountHi = 0x154;
    private const int OffFreeBlocksCountHi = 0x158;
    private const int OffMinExtraInodeSize = 0x15C;
    private const int OffWantExtraInodeSize = 0x15E;
    private const int OffFlags = 0x160;
    private const int OffRaidStride = 0x164;
    private const int OffMmpUpdateInterval = 0x166;
    private const int OffMmpBlock = 0x168;
    private const int OffRaidStripeWidth = 0x170;
    private const int OffLogGroupsPerFlex = 0x174;
    private const int OffChecksumType = 0x175;
    private const int OffEncryptionLevel = 0x176;
    private const int OffKbytesWritten = 0x178;
    private const int OffSnapshotInode = 0x180;
    private const int OffSnapshotId = 0x184;
    private const int OffSnapshotReservedBlocks = 0x188;
    private const int OffSnapshotList = 0x190;
    private const int OffErrorCount = 0x194;
    private const int OffFirstErrorTime = 0x198;
    private const int OffFirstErrorInode = 0x19C;
    private const int OffFirstErrorBlock = 0x1A0;
    private const int OffFirstErrorFunction = 0x1A8;
    private const int OffFirstErrorLine = 0x1C8;
    private const int OffLastErrorTime = 0x1CC;
    private const int OffLastErrorInode = 0x1D0;
    private const int OffLastErrorLine = 0x1D4;
    private const int OffLastErrorBlock = 0x1D8;
    private const int OffLastErrorFunction = 0x1E0;
    private const int OffMountOptions = 0x200;
    private const int OffUserQuotaInode = 0x240;
    private const int OffGroupQuotaInode = 0x244;
    private const int OffOverheadClusters = 0x248;
    private const int OffBackupBlockGroups = 0x24C;
    private const int OffEncryptAlgorithms = 0x254;
    private const int OffEncryptPasswordSalt = 0x258;
    private const int OffLostFoundInode = 0x268;
    private const int OffProjectQuotaInode = 0x26C;
    private const int OffChecksumSeed = 0x270;
    private const int OffWriteTimeHi = 0x274;
    private const int OffMountTimeHi = 0x275;
    private const int OffMkfsTimeHi = 0x276;
    private const int OffLastCheckHi = 0x277;
    private const int OffFirstErrorTimeHi = 0x278;
    private const int OffLastErrorTimeHi = 0x279;
    private const int OffFirstErrorCode = 0x27A;
    private const int OffLastErrorCode = 0x27B;
    private const int OffEncoding = 0x27C;
    private const int OffEncodingFlags = 0x27E;
    private const int OffOrphanFileInode = 0x280;
    private const int OffReserved = 0x284;
    private const int OffChecksum = 0x3FC;
    private const int ReservedLength = OffChecksum - OffReserved;

    public uint InodesCount { get; set; }
    public uint BlocksCountLo { get; set; }
    public uint ReservedBlocksCountLo { get; set; }
    public uint FreeBlocksCountLo { get; set; }
    public uint FreeInodesCount { get; set; }
    public uint FirstDataBlock { get; set; }
    public uint LogBlockSize { get; set; }
    public uint LogClusterSize { get; set; }
    public uint BlocksPerGroup { get; set; }
    public uint ClustersPerGroup { get; set; }
    public uint InodesPerGroup { get; set; }
    public uint MountTimeLo { get; set; }
    public uint WriteTimeLo { get; set; }
    public ushort MountCount { get; set; }
    public short MaxMountCount { get; set; }
    public ushort MagicValue { get; set; }
    public ushort State { get; set; }
    public ushort Errors { get; set; }
    public ushort MinorRevisionLevel { get; set; }
    public uint LastCheckLo { get; set; }
    public uint CheckInterval { get; set; }
    public uint CreatorOs { get; set; }
    public uint RevisionLevel { get; set; }
    public ushort DefaultReservedUid { get; set; }
    public ushort DefaultReservedGid { get; set; }
    public uint FirstInode { get; set; }
    public ushort InodeSize { get; set; }
    public ushort BlockGroupNumber { get; set; }
    public CompatFeatures FeatureCompat { get; set; }
    public IncompatFeatures FeatureIncompat { get; set; }
    public RoCompatFeatures FeatureRoCompat { get; set; }

    /// <summary>s_uuid: 16 raw bytes in textual order (use <see cref="UuidAsGuid"/> for a Guid).</summary>
    public byte[] Uuid { get; set; } = new byte[16];

    /// <summary>s_volume_name: the label, NUL padded.</summary>
    public byte[] VolumeNameBytes { get; set; } = new byte[16];

    /// <summary>s_last_mounted: the directory where it was last mounted, NUL padded.</summary>
    public byte[] LastMountedBytes { get; set; } = new byte[64];

    public uint AlgorithmUsageBitmap { get; set; }
    public byte PreallocBlocks { get; set; }
    public byte PreallocDirBlocks { get; set; }
    public ushort ReservedGdtBlocks { get; set; }
    public byte[] JournalUuid { get; set; } = new byte[16];
    public uint JournalInode { get; set; }
    public uint JournalDevice { get; set; }
    public uint LastOrphan { get; set; }

    /// <summary>s_hash_seed: 16 bytes seeding directory-index hashes.</summary>
    public byte[] HashSeed { get; set; } = new byte[16];

    public byte DefaultHashVersion { get; set; }
    public byte JournalBackupType { get; set; }
    public ushort DescriptorSizeField { get; set; }
    public uint DefaultMountOptions { get; set; }
    public uint FirstMetaBg { get; set; }
    public uint MkfsTimeLo { get; set; }

    /// <summary>s_jnl_blocks: i_block[0..14] of the journal inode, then i_size_high, i_size.</summary>
    public uint[] JournalBlocks { get; set; } = new uint[17];

    public uint BlocksCountHi { get; set; }
    public uint ReservedBlocksCountHi { get; set; }
    public uint FreeBlocksCountHi { get; set; }
    public ushort MinExtraInodeSize { get; set; }
    public ushort WantExtraInodeSize { get; set; }
    public uint Flags { get; set; }
    public ushort RaidStride { get; set; }
    public ushort MmpUpdateInterval { get; set; }
    public ulong MmpBlock { get; set; }
    public uint RaidStripeWidth { get; set; }
    public byte LogGroupsPerFlex { get; set; }
    public byte ChecksumType { get; set; }
    public byte EncryptionLevel { get; set; }
    public byte ReservedPad { get; set; }
    public ulong KilobytesWritten { get; set; }
    public uint SnapshotInode { get; set; }
    public uint SnapshotId { get; set; }
    public ulong SnapshotReservedBlocks { get; set; }
    public uint SnapshotList { get; set; }
    public uint ErrorCount { get; set; }
    public uint FirstErrorTimeLo { get; set; }
    public uint FirstErrorInode { get; set; }
    public ulong FirstErrorBlock { get; set; }
    public byte[] FirstErrorFunction { get; set; } = new byte[32];
    public uint FirstErrorLine { get; set; }
    public uint LastErrorTimeLo { get; set; }
    public uint LastErrorInode { get; set; }
    public uint LastErrorLine { get; set; }
    public ulong LastErrorBlock { get; set; }
    public byte[] LastErrorFunction { get; set; } = new byte[32];
    public byte[] MountOptions { get; set; } = new byte[64];
    public uint UserQuotaInode { get; set; }
    public uint GroupQuotaInode { get; set; }
    public uint OverheadClusters { get; set; }

    /// <summary>s_backup_bgs: the two groups holding backups with sparse_super2.</summary>
    public uint[] BackupBlockGroups { get; set; } = new uint[2];

    public byte[] EncryptAlgorithms { get; set; } = new byte[4];
    public byte[] EncryptPasswordSalt { get; set; } = new byte[16];
    public uint LostFoundInode { get; set; }
    public uint ProjectQuotaInode { get; set; }
    public uint ChecksumSeed { get; set; }
    public byte WriteTimeHi { get; set; }
    public byte MountTimeHi { get; set; }
    public byte MkfsTimeHi { get; set; }
    public byte LastCheckHi { get; set; }
    public byte FirstErrorTimeHi { get; set; }
    public byte LastErrorTimeHi { get; set; }
    public byte FirstErrorCode { get; set; }
    public byte LastErrorCode { get; set; }
    public ushort Encoding { get; set; }
    public ushort EncodingFlags { get; set; }
    public uint OrphanFileInode { get; set; }

    /// <summary>s_reserved: kept verbatim so that a round trip is exact.</summary>
    public byte[] Reserved { get; set; } = new byte[ReservedLength];

    /// <summary>s_checksum: crc32c of bytes 0..0x3FB with metadata_csum.</summary>
    public uint Checksum { get; set; }

    // ---- Derived values -------------------------------------------------------------------

    /// <summary>Block size in bytes: 1024 &lt;&lt; s_log_block_size.</summary>
    public int BlockSize => LogBlockSize <= 16 ? 1024 << (int)LogBlockSize : 0;

    /// <summary>Whether the 64bit feature widens block numbers and group descriptors.</summary>
    public bool Is64Bit => FeatureIncompat.HasFlag(IncompatFeatures.SixtyFourBit);

    /// <summary>Whether metadata checksums (crc32c) are in use.</summary>
    public bool HasMetadataChecksums => FeatureRoCompat.HasFlag(RoCompatFeatures.MetadataCsum);

    /// <summary>Whether group descriptors carry the older crc16 checksum (uninit_bg).</summary>
    public bool HasGroupDescriptorChecksums => FeatureRoCompat.HasFlag(RoCompatFeatures.GdtCsum);

    /// <summary>Size of one group descriptor: 32 bytes, or s_desc_size with 64bit.</summary>
    public int GroupDescriptorSize => Is64Bit ? DescriptorSizeField : GroupDescriptor.Size32;

    /// <summary>Total blocks (s_blocks_count_lo + hi with 64bit).</summary>
    public ulong BlocksCount
    {
        get => Combine(BlocksCountLo, BlocksCountHi);
        set => (BlocksCountLo, BlocksCountHi) = Split(value);
    }

    /// <summary>Blocks reserved for root.</summary>
    public ulong ReservedBlocksCount
    {
        get => Combine(ReservedBlocksCountLo, ReservedBlocksCountHi);
        set => (ReservedBlocksCountLo, ReservedBlocksCountHi) = Split(value);
    }

    /// <summary>Free blocks as recorded in the superblock.</summary>
    public ulong FreeBlocksCount
    {
        get => Combine(FreeBlocksCountLo, FreeBlocksCountHi);
        set => (FreeBlocksCountLo, FreeBlocksCountHi) = Split(value);
    }

    /// <summary>Number of block groups, from the block count (docs/ext-format.md §1.1).</summary>
    public ulong GroupCount => BlocksPerGroup == 0 || BlocksCount <= FirstDataBlock
        ? 0
        : (BlocksCount - FirstDataBlock + BlocksPerGroup - 1) / BlocksPerGroup;

    /// <summary>Last write time (s_wtime with its high byte).</summary>
    public long WriteTime
    {
        get => CombineTime(WriteTimeLo, WriteTimeHi);
        set => (WriteTimeLo, WriteTimeHi) = SplitTime(value);
    }

    /// <summary>Last mount time (s_mtime with its high byte); 0 when never mounted.</summary>
    public long MountTime
    {
        get => CombineTime(MountTimeLo, MountTimeHi);
        set => (MountTimeLo, MountTimeHi) = SplitTime(value);
    }

    /// <summary>Creation time (s_mkfs_time with its high byte).</summary>
    public long MkfsTime
    {
        get => CombineTime(MkfsTimeLo, MkfsTimeHi);
        set => (MkfsTimeLo, MkfsTimeHi) = SplitTime(value);
    }

    /// <summary>Last check time (s_lastcheck with its high byte).</summary>
    public long LastCheck
    {
        get => CombineTime(LastCheckLo, LastCheckHi);
        set => (LastCheckLo, LastCheckHi) = SplitTime(value);
    }

    /// <summary>The UUID as a Guid (s_uuid is stored in textual, big-endian order).</summary>
    public Guid UuidAsGuid
    {
        get => new(Uuid, bigEndian: true);
        set => Uuid = value.ToByteArray(bigEndian: true);
    }

    /// <summary>The volume label (s_volume_name) as text.</summary>
    public string VolumeName
    {
        get => DecodeString(VolumeNameBytes);
        set => VolumeNameBytes = EncodeString(value, 16, "volume label");
    }

    /// <summary>The last mount point (s_last_mounted) as text.</summary>
    public string LastMounted
    {
        get => DecodeString(LastMountedBytes);
        set => LastMountedBytes = EncodeString(value, 64, "last mounted directory");
    }

    /// <summary>
    /// Reads a superblock from its 1024 bytes. Nothing is validated here (a reader that wants to
    /// describe a damaged superblock needs the raw fields); call <see cref="Validate"/> before trusting it.
    /// </summary>
    public static Superblock Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            throw new ArgumentException($"a superblock needs {Size} bytes, got {source.Length}", nameof(source));
        }
        var s = source[..Size];
        var sb = new Superblock
        {
            InodesCount = U32(s, OffInodesCount),
            BlocksCountLo = U32(s, OffBlocksCountLo),
            ReservedBlocksCountLo = U32(s, OffReservedBlocksCountLo),
            FreeBlocksCountLo = U32(s, OffFreeBlocksCountLo),
            FreeInodesCount = U32(s, OffFreeInodesCount),
            FirstDataBlock = U32(s, OffFirstDataBlock),
            LogBlockSize = U32(s, OffLogBlockSize),
            LogClusterSize = U32(s, OffLogClusterSize),
            BlocksPerGroup = U32(s, OffBlocksPerGroup),
            ClustersPerGroup = U32(s, OffClustersPerGroup),
            InodesPerGroup = U32(s, OffInodesPerGroup),
            MountTimeLo = U32(s, OffMountTime),
            WriteTimeLo = U32(s, OffWriteTime),
            MountCount = U16(s, OffMountCount),
            MaxMountCount = BinaryPrimitives.ReadInt16LittleEndian(s[OffMaxMountCount..]),
            MagicValue = U16(s, OffMagic),
            State = U16(s, OffState),
            Errors = U16(s, OffErrors),
            MinorRevisionLevel = U16(s, OffMinorRevLevel),
            LastCheckLo = U32(s, OffLastCheck),
            CheckInterval = U32(s, OffCheckInterval),
            CreatorOs = U32(s, OffCreatorOs),
            RevisionLevel = U32(s, OffRevLevel),
            DefaultReservedUid = U16(s, OffDefaultReservedUid),
            DefaultReservedGid = U16(s, OffDefaultReservedGid),
            FirstInode = U32(s, OffFirstInode),
            InodeSize = U16(s, OffInodeSize),
            BlockGroupNumber = U16(s, OffBlockGroupNumber),
            FeatureCompat = (CompatFeatures)U32(s, OffFeatureCompat),
            FeatureIncompat = (IncompatFeatures)U32(s, OffFeatureIncompat),
            FeatureRoCompat = (RoCompatFeatures)U32(s, OffFeatureRoCompat),
            Uuid = s.Slice(OffUuid, 16).ToArray(),
            VolumeNameBytes = s.Slice(OffVolumeName, 16).ToArray(),
            LastMountedBytes = s.Slice(OffLastMounted, 64).ToArray(),
            AlgorithmUsageBitmap = U32(s, OffAlgorithmUsageBitmap),
            PreallocBlocks = s[OffPreallocBlocks],
            PreallocDirBlocks = s[OffPreallocDirBlocks],
            ReservedGdtBlocks = U16(s, OffReservedGdtBlocks),
            JournalUuid = s.Slice(OffJournalUuid, 16).ToArray(),
            JournalInode = U32(s, OffJournalInode),
            JournalDevice = U32(s, OffJournalDevice),
            LastOrphan = U32(s, OffLastOrphan),
            HashSeed = s.Slice(OffHashSeed, 16).ToArray(),
            DefaultHashVersion = s[OffDefaultHashVersion],
            JournalBackupType = s[OffJournalBackupType],
            DescriptorSizeField = U16(s, OffDescriptorSize),
            DefaultMountOptions = U32(s, OffDefaultMountOptions),
            FirstMetaBg = U32(s, OffFirstMetaBg),
            MkfsTimeLo = U32(s, OffMkfsTime),
            BlocksCountHi = U32(s, OffBlocksCountHi),
            ReservedBlocksCountHi = U32(s, OffReservedBlocksCountHi),
            FreeBlocksCountHi = U32(s, OffFreeBlocksCountHi),
            MinExtraInodeSize = U16(s, OffMinExtraInodeSize),
            WantExtraInodeSize = U16(s, OffWantExtraInodeSize),
            Flags = U32(s, OffFlags),
            RaidStride = U16(s, OffRaidStride),
            MmpUpdateInterval = U16(s, OffMmpUpdateInterval),
            MmpBlock = U64(s, OffMmpBlock),
            RaidStripeWidth = U32(s, OffRaidStripeWidth),
            LogGroupsPerFlex = s[OffLogGroupsPerFlex],
            ChecksumType = s[OffChecksumType],
            EncryptionLevel = s[OffEncryptionLevel],
            ReservedPad = s[OffEncryptionLevel + 1],
            KilobytesWritten = U64(s, OffKbytesWritten),
            SnapshotInode = U32(s, OffSnapshotInode),
            SnapshotId = U32(s, OffSnapshotId),
            SnapshotReservedBlocks = U64(s, OffSnapshotReservedBlocks),
            SnapshotList = U32(s, OffSnapshotList),
            ErrorCount = U32(s, OffErrorCount),
            FirstErrorTimeLo = U32(s, OffFirstErrorTime),
            FirstErrorInode = U32(s, OffFirstErrorInode),
            FirstErrorBlock = U64(s, OffFirstErrorBlock),
            FirstErrorFunction = s.Slice(OffFirstErrorFunction, 32).ToArray(),
            FirstErrorLine = U32(s, OffFirstErrorLine),
            LastErrorTimeLo = U32(s, OffLastErrorTime),
            LastErrorInode = U32(s, OffLastErrorInode),
            LastErrorLine = U32(s, OffLastErrorLine),
            LastErrorBlock = U64(s, OffLastErrorBlock),
            LastErrorFunction = s.Slice(OffLastErrorFunction, 32).ToArray(),
            MountOptions = s.Slice(OffMountOptions, 64).ToArray(),
            UserQuotaInode = U32(s, OffUserQuotaInode),
            GroupQuotaInode = U32(s, OffGroupQuotaInode),
            OverheadClusters = U32(s, OffOverheadClusters),
            BackupBlockGroups = new[] { U32(s, OffBackupBlockGroups), U32(s, OffBackupBlockGroups + 4) },
            EncryptAlgorithms = s.Slice(OffEncryptAlgorithms, 4).ToArray(),
            EncryptPasswordSalt = s.Slice(OffEncryptPasswordSalt, 16).ToArray(),
            LostFoundInode = U32(s, OffLostFoundInode),
            ProjectQuotaInode = U32(s, OffProjectQuotaInode),
            ChecksumSeed = U32(s, OffChecksumSeed),
            WriteTimeHi = s[OffWriteTimeHi],
            MountTimeHi = s[OffMountTimeHi],
            MkfsTimeHi = s[OffMkfsTimeHi],
            LastCheckHi = s[OffLastCheckHi],
            FirstErrorTimeHi = s[OffFirstErrorTimeHi],
            LastErrorTimeHi = s[OffLastErrorTimeHi],
            FirstErrorCode = s[OffFirstErrorCode],
            LastErrorCode = s[OffLastErrorCode],
            Encoding = U16(s, OffEncoding),
            EncodingFlags = U16(s, OffEncodingFlags),
            OrphanFileInode = U32(s, OffOrphanFileInode),
            Reserved = s.Slice(OffReserved, ReservedLength).ToArray(),
            Checksum = U32(s, OffChecksum),
        };
        for (var i = 0; i < 17; i++)
        {
            sb.JournalBlocks[i] = U32(s, OffJournalBlocks + 4 * i);
        }
        return sb;
    }

    /// <summary>Writes all 1024 bytes. The checksum field is written as held; see <see cref="UpdateChecksum"/>.</summary>
    public void Write(Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            throw new ArgumentException($"a superblock needs {Size} bytes, got {destination.Length}", nameof(destination));
        }
        var d = destination[..Size];
        d.Clear();
        PutU32(d, OffInodesCount, InodesCount);
        PutU32(d, OffBlocksCountLo, BlocksCountLo);
        PutU32(d, OffReservedBlocksCountLo, ReservedBlocksCountLo);
        PutU32(d, OffFreeBlocksCountLo, FreeBlocksCountLo);
        PutU32(d, OffFreeInodesCount, FreeInodesCount);
        PutU32(d, OffFirstDataBlock, FirstDataBlock);
        PutU32(d, OffLogBlockSize, LogBlockSize);
        PutU32(d, OffLogClusterSize, LogClusterSize);
        PutU32(d, OffBlocksPerGroup, BlocksPerGroup);
        PutU32(d, OffClustersPerGroup, ClustersPerGroup);
        PutU32(d, OffInodesPerGroup, InodesPerGroup);
        PutU32(d, OffMountTime, MountTimeLo);
        PutU32(d, OffWriteTime, WriteTimeLo);
        PutU16(d, OffMountCount, MountCount);
        BinaryPrimitives.WriteInt16LittleEndian(d[OffMaxMountCount..], MaxMountCount);
        PutU16(d, OffMagic, MagicValue);
        PutU16(d, OffState, State);
        PutU16(d, OffErrors, Errors);
        PutU16(d, OffMinorRevLevel, MinorRevisionLevel);
        PutU32(d, OffLastCheck, LastCheckLo);
        PutU32(d, OffCheckInterval, CheckInterval);
        PutU32(d, OffCreatorOs, CreatorOs);
        PutU32(d, OffRevLevel, RevisionLevel);
        PutU16(d, OffDefaultReservedUid, DefaultReservedUid);
        PutU16(d, OffDefaultReservedGid, DefaultReservedGid);
        PutU32(d, OffFirstInode, FirstInode);
        PutU16(d, OffInodeSize, InodeSize);
        PutU16(d, OffBlockGroupNumber, BlockGroupNumber);
        PutU32(d, OffFeatureCompat, (uint)FeatureCompat);
        PutU32(d, OffFeatureIncompat, (uint)FeatureIncompat);
        PutU32(d, OffFeatureRoCompat, (uint)FeatureRoCompat);
        PutBytes(d, OffUuid, Uuid, 16, nameof(Uuid));
        PutBytes(d, OffVolumeName, VolumeNameBytes, 16, nameof(VolumeNameBytes));
        PutBytes(d, OffLastMounted, LastMountedBytes, 64, nameof(LastMountedBytes));
        PutU32(d, OffAlgorithmUsageBitmap, AlgorithmUsageBitmap);
        d[OffPreallocBlocks] = PreallocBlocks;
        d[OffPreallocDirBlocks] = PreallocDirBlocks;
        PutU16(d, OffReservedGdtBlocks, ReservedGdtBlocks);
        PutBytes(d, OffJournalUuid, JournalUuid, 16, nameof(JournalUuid));
        PutU32(d, OffJournalInode, JournalInode);
        PutU32(d, OffJournalDevice, JournalDevice);
        PutU32(d, OffLastOrphan, LastOrphan);
        PutBytes(d, OffHashSeed, HashSeed, 16, nameof(HashSeed));
        d[OffDefaultHashVersion] = DefaultHashVersion;
        d[OffJournalBackupType] = JournalBackupType;
        PutU16(d, OffDescriptorSize, DescriptorSizeField);
        PutU32(d, OffDefaultMountOptions, DefaultMountOptions);
        PutU32(d, OffFirstMetaBg, FirstMetaBg);
        PutU32(d, OffMkfsTime, MkfsTimeLo);
        if (JournalBlocks.Length != 17)
        {
            throw new InvalidOperationException("s_jnl_blocks must hold 17 words");
        }
        for (var i = 0; i < 17; i++)
        {
            PutU32(d, OffJournalBlocks + 4 * i, JournalBlocks[i]);
        }
        PutU32(d, OffBlocksCountHi, BlocksCountHi);
        PutU32(d, OffReservedBlocksCountHi, ReservedBlocksCountHi);
        PutU32(d, OffFreeBlocksCountHi, FreeBlocksCountHi);
        PutU16(d, OffMinExtraInodeSize, MinExtraInodeSize);
        PutU16(d, OffWantExtraInodeSize, WantExtraInodeSize);
        PutU32(d, OffFlags, Flags);
        PutU16(d, OffRaidStride, RaidStride);
        PutU16(d, OffMmpUpdateInterval, MmpUpdateInterval);
        PutU64(d, OffMmpBlock, MmpBlock);
        PutU32(d, OffRaidStripeWidth, RaidStripeWidth);
        d[OffLogGroupsPerFlex] = LogGroupsPerFlex;
        d[OffChecksumType] = ChecksumType;
        d[OffEncryptionLevel] = EncryptionLevel;
        d[OffEncryptionLevel + 1] = ReservedPad;
        PutU64(d, OffKbytesWritten, KilobytesWritten);
        PutU32(d, OffSnapshotInode, SnapshotInode);
        PutU32(d, OffSnapshotId, SnapshotId);
        PutU64(d, OffSnapshotReservedBlocks, SnapshotReservedBlocks);
        PutU32(d, OffSnapshotList, SnapshotList);
        PutU32(d, OffErrorCount, ErrorCount);
        PutU32(d, OffFirstErrorTime, FirstErrorTimeLo);
        PutU32(d, OffFirstErrorInode, FirstErrorInode);
        PutU64(d, OffFirstErrorBlock, FirstErrorBlock);
        PutBytes(d, OffFirstErrorFunction, FirstErrorFunction, 32, nameof(FirstErrorFunction));
        PutU32(d, OffFirstErrorLine, FirstErrorLine);
        PutU32(d, OffLastErrorTime, LastErrorTimeLo);
        PutU32(d, OffLastErrorInode, LastErrorInode);
        PutU32(d, OffLastErrorLine, LastErrorLine);
        PutU64(d, OffLastErrorBlock, LastErrorBlock);
        PutBytes(d, OffLastErrorFunction, LastErrorFunction, 32, nameof(LastErrorFunction));
        PutBytes(d, OffMountOptions, MountOptions, 64, nameof(MountOptions));
        PutU32(d, OffUserQuotaInode, UserQuotaInode);
        PutU32(d, OffGroupQuotaInode, GroupQuotaInode);
        PutU32(d, OffOverheadClusters, OverheadClusters);
        PutU32(d, OffBackupBlockGroups, BackupBlockGroups[0]);
        PutU32(d, OffBackupBlockGroups + 4, BackupBlockGroups[1]);
        PutBytes(d, OffEncryptAlgorithms, EncryptAlgorithms, 4, nameof(EncryptAlgorithms));
        PutBytes(d, OffEncryptPasswordSalt, EncryptPasswordSalt, 16, nameof(EncryptPasswordSalt));
        PutU32(d, OffLostFoundInode, LostFoundInode);
        PutU32(d, OffProjectQuotaInode, ProjectQuotaInode);
        PutU32(d, OffChecksumSeed, ChecksumSeed);
        d[OffWriteTimeHi] = WriteTimeHi;
        d[OffMountTimeHi] = MountTimeHi;
        d[OffMkfsTimeHi] = MkfsTimeHi;
        d[OffLastCheckHi] = LastCheckHi;
        d[OffFirstErrorTimeHi] = FirstErrorTimeHi;
        d[OffLastErrorTimeHi] = LastErrorTimeHi;
        d[OffFirstErrorCode] = FirstErrorCode;
        d[OffLastErrorCode] = LastErrorCode;
        PutU16(d, OffEncoding, Encoding);
        PutU16(d, OffEncodingFlags, EncodingFlags);
        PutU32(d, OffOrphanFileInode, OrphanFileInode);
        PutBytes(d, OffReserved, Reserved, ReservedLength, nameof(Reserved));
        PutU32(d, OffChecksum, Checksum);
    }

    /// <summary>The crc32c the superblock should carry with metadata_csum: over bytes 0..0x3FB, seed ~0.</summary>
    public uint ComputeChecksum()
    {
        Span<byte> buffer = stackalloc byte[Size];
        Write(buffer);
        return Crc32c.Compute(Crc32c.InitialSeed, buffer[..OffChecksum]);
    }

    /// <summary>Sets s_checksum when metadata_csum is on (no-op otherwise).</summary>
    public void UpdateChecksum()
    {
        if (HasMetadataChecksums)
        {
            Checksum = ComputeChecksum();
        }
    }

    /// <summary>
    /// The seed every other metadata checksum starts from: s_checksum_seed with metadata_csum_seed,
    /// else crc32c(~0, s_uuid) (ext4 "csum_seed").
    /// </summary>
    public uint MetadataChecksumSeed => FeatureIncompat.HasFlag(IncompatFeatures.CsumSeed)
        ? ChecksumSeed
        : Crc32c.Compute(Crc32c.InitialSeed, Uuid);

    /// <summary>
    /// Checks the fields everything else depends on before they are trusted (docs/ext-format.md §13):
    /// magic, block size, cluster size, group sizes, inode size, first inode, group count against the
    /// block count, descriptor size. Throws <see cref="ImageToolsException"/> naming the field.
    /// </summary>
    public void Validate(string source, long? deviceLength = null)
    {
        void Fail(string what) => throw new ImageToolsException(ErrorKind.CorruptImage, $"{source}: ext superblock: {what}") { Path = source };

        if (MagicValue != Magic)
        {
            Fail($"bad magic 0x{MagicValue:X4} (expected 0xEF53): not an ext2/3/4 filesystem");
        }
        if (LogBlockSize > 6)
        {
            Fail($"s_log_block_size {LogBlockSize} gives a block size over 64 KiB");
        }
        var bs = BlockSize;
        if (!FeatureRoCompat.HasFlag(RoCompatFeatures.Bigalloc) && LogClusterSize != LogBlockSize)
        {
            Fail($"s_log_cluster_size {LogClusterSize} differs from s_log_block_size {LogBlockSize} without bigalloc");
        }
        if (BlocksPerGroup == 0 || BlocksPerGroup > 8u * (uint)bs && !FeatureRoCompat.HasFlag(RoCompatFeatures.Bigalloc))
        {
            Fail($"s_blocks_per_group {BlocksPerGroup} is not in 1..{8 * bs}");
        }
        if (InodesPerGroup == 0 || InodesPerGroup > 8u * (uint)bs)
        {
            Fail($"s_inodes_per_group {InodesPerGroup} is not in 1..{8 * bs}");
        }
        if (RevisionLevel > 1)
        {
            Fail($"unknown revision level {RevisionLevel}");
        }
        if (RevisionLevel >= 1)
        {
            if (InodeSize < 128 || InodeSize > bs || (InodeSize & (InodeSize - 1)) != 0)
            {
                Fail($"s_inode_size {InodeSize} is not a power of two between 128 and the block size {bs}");
            }
            if (FirstInode < 11)
            {
                Fail($"s_first_ino {FirstInode} is below 11");
            }
        }
        if (BlocksCount == 0 || FirstDataBlock >= BlocksCount)
        {
            Fail($"s_first_data_block {FirstDataBlock} is not below s_blocks_count {BlocksCount}");
        }
        if (bs == 1024 && FirstDataBlock != 1 && !FeatureRoCompat.HasFlag(RoCompatFeatures.Bigalloc))
        {
            Fail($"s_first_data_block is {FirstDataBlock}, must be 1 with 1 KiB blocks");
        }
        var groups = GroupCount;
        if (groups == 0 || (ulong)InodesPerGroup * groups != InodesCount)
        {
            Fail($"s_inodes_count {InodesCount} is not s_inodes_per_group {InodesPerGroup} x {groups} groups");
        }
        if (Is64Bit && (DescriptorSizeField < GroupDescriptor.Size64 || DescriptorSizeField > 1024 || (DescriptorSizeField & (DescriptorSizeField - 1)) != 0))
        {
            Fail($"s_desc_size {DescriptorSizeField} is not a power of two between 64 and 1024 with 64bit");
        }
        if (deviceLength is long length && length > 0)
        {
            var needed = ((long)FirstDataBlock + 1) * bs;
            if (needed > length)
            {
                Fail($"the group descriptor table at block {FirstDataBlock + 1} is past the end of the {length}-byte image");
            }
        }
    }

    /// <summary>The number of inodes per group slot (rev 0 uses 128-byte inodes and first inode 11).</summary>
    public int EffectiveInodeSize => RevisionLevel == 0 ? 128 : InodeSize;

    /// <summary>First non-reserved inode (11 on revision 0).</summary>
    public uint EffectiveFirstInode => RevisionLevel == 0 ? 11 : FirstInode;

    private static ulong Combine(uint lo, uint hi) => lo | ((ulong)hi << 32);

    private static (uint, uint) Split(ulong value) => ((uint)value, (uint)(value >> 32));

    // The superblock's *_hi time bytes extend the unsigned 32-bit seconds (kernel ext4_get_tstamp).
    private static long CombineTime(uint lo, byte hi) => lo | ((long)hi << 32);

    private static (uint, byte) SplitTime(long value) => ((uint)value, (byte)(value >> 32));

    private static string DecodeString(byte[] bytes)
    {
        var n = Array.IndexOf(bytes, (byte)0);
        return System.Text.Encoding.UTF8.GetString(bytes, 0, n < 0 ? bytes.Length : n);
    }

    private static byte[] EncodeString(string value, int length, string what)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(value);
        if (bytes.Length > length)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"the {what} '{value}' is {bytes.Length} bytes; at most {length} fit");
        }
        var result = new byte[length];
        bytes.CopyTo(result, 0);
        return result;
    }

    private static uint U32(ReadOnlySpan<byte> s, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(s[offset..]);

    private static ushort U16(ReadOnlySpan<byte> s, int offset) => BinaryPrimitives.ReadUInt16LittleEndian(s[offset..]);

    private static ulong U64(ReadOnlySpan<byte> s, int offset) => BinaryPrimitives.ReadUInt64LittleEndian(s[offset..]);

    private static void PutU32(Span<byte> d, int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(d[offset..], value);

    private static void PutU16(Span<byte> d, int offset, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(d[offset..], value);

    private static void PutU64(Span<byte> d, int offset, ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(d[offset..], value);

    private static void PutBytes(Span<byte> d, int offset, byte[] value, int length, string field)
    {
        if (value.Length != length)
        {
            throw new InvalidOperationException($"superblock field {field} must be {length} bytes, is {value.Length}");
        }
        value.CopyTo(d.Slice(offset, length));
    }
}
