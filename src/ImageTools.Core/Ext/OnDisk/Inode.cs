using System.Buffers.Binary;

namespace ImageTools.Core.Ext.OnDisk;

/// <summary>File type bits of i_mode (S_IFMT).</summary>
public enum InodeType : ushort
{
    None = 0,
    Fifo = 0x1000,
    CharacterDevice = 0x2000,
    Directory = 0x4000,
    BlockDevice = 0x6000,
    RegularFile = 0x8000,
    SymbolicLink = 0xA000,
    Socket = 0xC000,
}

/// <summary>i_flags bits that matter to readers and writers.</summary>
[Flags]
public enum InodeFlags : uint
{
    None = 0,
    SecureRemoval = 0x1,
    Undelete = 0x2,
    Compressed = 0x4,
    Synchronous = 0x8,
    Immutable = 0x10,
    AppendOnly = 0x20,
    NoDump = 0x40,
    NoAtime = 0x80,
    Encrypted = 0x800,
    /// <summary>Hashed (htree) directory.</summary>
    Index = 0x1000,
    Imagic = 0x2000,
    JournalData = 0x4000,
    NoTail = 0x8000,
    DirSync = 0x10000,
    TopDir = 0x20000,
    /// <summary>i_blocks counts filesystem blocks, not 512-byte sectors (huge_file).</summary>
    HugeFile = 0x40000,
    /// <summary>i_block holds an extent tree.</summary>
    Extents = 0x80000,
    Verity = 0x100000,
    /// <summary>The inode holds a large xattr value (ea_inode).</summary>
    EaInode = 0x200000,
    InlineData = 0x10000000,
    ProjectInherit = 0x20000000,
    Casefold = 0x40000000,
}

/// <summary>
/// An inode (struct ext4_inode): the 128-byte base and, in larger inodes, the extra fields after
/// i_extra_isize and the in-inode xattr area (docs/ext-format.md §5). Read and Write are symmetric:
/// bytes that are not modelled field by field (the xattr area, unknown extra fields) are kept verbatim.
/// </summary>
public sealed class Inode
{
    /// <summary>The base ("good old") inode size.</summary>
    public const int BaseSize = 128;

    /// <summary>Size of i_block: 15 words.</summary>
    public const int BlockAreaSize = 60;

    /// <summary>i_extra_isize mke2fs writes for 256-byte inodes (all extra fields through i_projid).</summary>
    public const ushort DefaultExtraIsize = 32;

    private const int OffMode = 0x00;
    private const int OffUidLo = 0x02;
    private const int OffSizeLo = 0x04;
    private const int OffAtime = 0x08;
    private const int OffCtime = 0x0C;
    private const int OffMtime = 0x10;
    private const int OffDtime = 0x14;
    private const int OffGidLo = 0x18;
    private const int OffLinksCount = 0x1A;
    private const int OffBlocksLo = 0x1C;
    private const int OffFlags = 0x20;
    private const int OffVersionLo = 0x24;
    private const int OffBlock = 0x28;
    private const int OffGeneration = 0x64;
    private const int OffFileAclLo = 0x68;
    private const int OffSizeHigh = 0x6C;
    private const int OffFragmentAddress = 0x70;
    private const int OffBlocksHigh = 0x74;
    private const int OffFileAclHigh = 0x76;
    private const int OffUidHigh = 0x78;
    private const int OffGidHigh = 0x7A;
    private const int OffChecksumLo = 0x7C;
    private const int OffOsd2Reserved = 0x7E;
    private const int OffExtraIsize = 0x80;

    // Extra fields, each present when i_extra_isize reaches its end (offset relative to 128).
    private const int OffChecksumHi = 0x82;
    private const int OffCtimeExtra = 0x84;
    private const int OffMtimeExtra = 0x88;
    private const int OffAtimeExtra = 0x8C;
    private const int OffCrtime = 0x90;
    private const int OffCrtimeExtra = 0x94;
    private const int OffVersionHi = 0x98;
    private const int OffProjectId = 0x9C;
    private const int EndOfKnownExtra = 0xA0;

    /// <summary>Magic at the start of the in-inode xattr area (h_magic of ext4_xattr_ibody_header).</summary>
    public const uint InlineXattrMagic = 0xEA020000;

    public ushort Mode { get; set; }
    public ushort UidLo { get; set; }
    public uint SizeLo { get; set; }
    public uint AtimeLo { get; set; }
    public uint CtimeLo { get; set; }
    public uint MtimeLo { get; set; }
    public uint Dtime { get; set; }
    public ushort GidLo { get; set; }
    public ushort LinksCount { get; set; }
    public uint BlocksLo { get; set; }
    public InodeFlags Flags { get; set; }
    public uint VersionLo { get; set; }

    /// <summary>i_block: block map, extent tree root, fast symlink text or device number (60 bytes).</summary>
    public byte[] Block { get; set; } = new byte[BlockAreaSize];

    public uint Generation { get; set; }
    public uint FileAclLo { get; set; }
    public uint SizeHigh { get; set; }
    public uint FragmentAddress { get; set; }
    public ushort BlocksHigh { get; set; }
    public ushort FileAclHigh { get; set; }
    public ushort UidHigh { get; set; }
    public ushort GidHigh { get; set; }
    public ushort ChecksumLo { get; set; }
    public ushort Osd2Reserved { get; set; }

    /// <summary>i_extra_isize: how many bytes past 128 hold extra fields (0 in 128-byte inodes).</summary>
    public ushort ExtraIsize { get; set; }

    public ushort ChecksumHi { get; set; }
    public uint CtimeExtra { get; set; }
    public uint MtimeExtra { get; set; }
    public uint AtimeExtra { get; set; }
    public uint CrtimeLo { get; set; }
    public uint CrtimeExtra { get; set; }
    public uint VersionHi { get; set; }
    public uint ProjectId { get; set; }

    /// <summary>The inode's on-disk size (s_inode_size) it was read with or will be written with.</summary>
    public int InodeSize { get; set; } = 256;

    /// <summary>
    /// Bytes from 128 + i_extra_isize to the end of the inode: the in-inode xattr area
    /// (magic 0xEA020000, entries, values). Empty for 128-byte inodes.
    /// </summary>
    public byte[] InlineArea { get; set; } = Array.Empty<byte>();

    /// <summary>Extra-field bytes past the ones modelled (when i_extra_isize &gt; 32), kept verbatim.</summary>
    public byte[] UnknownExtra { get; set; } = Array.Empty<byte>();

    // ---- Derived values -------------------------------------------------------------------

    public InodeType Type
    {
        get => (InodeType)(Mode & 0xF000);
        set => Mode = (ushort)((Mode & 0x0FFF) | (ushort)value);
    }

    /// <summary>Permission bits including setuid, setgid and sticky (07777).</summary>
    public ushort Permissions
    {
        get => (ushort)(Mode & 0x0FFF);
        set => Mode = (ushort)((Mode & 0xF000) | (value & 0x0FFF));
    }

    public uint Uid
    {
        get => UidLo | ((uint)UidHigh << 16);
        set => (UidLo, UidHigh) = ((ushort)value, (ushort)(value >> 16));
    }

    public uint Gid
    {
        get => GidLo | ((uint)GidHigh << 16);
        set => (GidLo, GidHigh) = ((ushort)value, (ushort)(value >> 16));
    }

    /// <summary>i_size with i_size_high (all file types on ext4; regular files on ext2/3).</summary>
    public ulong Size
    {
        get => SizeLo | ((ulong)SizeHigh << 32);
        set => (SizeLo, SizeHigh) = ((uint)value, (uint)(value >> 32));
    }

    /// <summary>i_file_acl with its high half: the xattr block, or 0.</summary>
    public ulong FileAcl
    {
        get => FileAclLo | ((ulong)FileAclHigh << 32);
        set => (FileAclLo, FileAclHigh) = ((uint)value, (ushort)(value >> 32));
    }

    /// <summary>
    /// Space used in 512-byte units (i_blocks, with l_i_blocks_high when huge_file is on; with the
    /// HUGE_FILE inode flag the raw value counts filesystem blocks).
    /// </summary>
    public ulong BlocksIn512ByteUnits(bool hugeFileFeature, int blockSize)
    {
        var raw = BlocksLo | (hugeFileFeature ? (ulong)BlocksHigh << 32 : 0);
        return hugeFileFeature && Flags.HasFlag(InodeFlags.HugeFile) ? raw * (ulong)(blockSize / 512) : raw;
    }

    /// <summary>Sets i_blocks (512-byte units) for a filesystem without huge_file.</summary>
    public void SetBlocksIn512ByteUnits(ulong value)
    {
        if (value > uint.MaxValue)
        {
            throw new InvalidOperationException($"i_blocks {value} does not fit 32 bits without huge_file");
        }
        BlocksLo = (uint)value;
        BlocksHigh = 0;
    }

    public bool HasExtraField(int offsetOfField, int fieldSize) =>
        InodeSize > BaseSize && BaseSize + ExtraIsize >= offsetOfField + fieldSize;

    public ExtTimestamp AccessTime
    {
        get => ExtTimestamp.Decode(AtimeLo, HasExtraField(OffAtimeExtra, 4) ? AtimeExtra : null);
        set => (AtimeLo, AtimeExtra) = (value.Base, value.Extra);
    }

    public ExtTimestamp ChangeTime
    {
        get => ExtTimestamp.Decode(CtimeLo, HasExtraField(OffCtimeExtra, 4) ? CtimeExtra : null);
        set => (CtimeLo, CtimeExtra) = (value.Base, value.Extra);
    }

    public ExtTimestamp ModificationTime
    {
        get => ExtTimestamp.Decode(MtimeLo, HasExtraField(OffMtimeExtra, 4) ? MtimeExtra : null);
        set => (MtimeLo, MtimeExtra) = (value.Base, value.Extra);
    }

    /// <summary>Creation time, or null when the inode has no i_crtime field.</summary>
    public ExtTimestamp? CreationTime
    {
        get => HasExtraField(OffCrtime, 4)
            ? ExtTimestamp.Decode(CrtimeLo, HasExtraField(OffCrtimeExtra, 4) ? CrtimeExtra : null)
            : null;
        set => (CrtimeLo, CrtimeExtra) = value is { } v ? (v.Base, v.Extra) : (0u, 0u);
    }

    /// <summary>i_block as 15 little-endian words.</summary>
    public uint BlockWord(int index) => BinaryPrimitives.ReadUInt32LittleEndian(Block.AsSpan(index * 4));

    public void SetBlockWord(int index, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Block.AsSpan(index * 4), value);

    /// <summary>Whether this slot is in use by the rules e2fsck applies (a link count, or a mode).</summary>
    public bool IsInUse => LinksCount != 0 || Mode != 0;

    /// <summary>Reads one inode from exactly s_inode_size bytes (128 for revision 0).</summary>
    public static Inode Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < BaseSize)
        {
            throw new ArgumentException($"an inode needs at least {BaseSize} bytes, got {source.Length}", nameof(source));
        }
        var s = source;
        var inode = new Inode
        {
            InodeSize = s.Length,
            Mode = U16(s, OffMode),
            UidLo = U16(s, OffUidLo),
            SizeLo = U32(s, OffSizeLo),
            AtimeLo = U32(s, OffAtime),
            CtimeLo = U32(s, OffCtime),
            MtimeLo = U32(s, OffMtime),
            Dtime = U32(s, OffDtime),
            GidLo = U16(s, OffGidLo),
            LinksCount = U16(s, OffLinksCount),
            BlocksLo = U32(s, OffBlocksLo),
            Flags = (InodeFlags)U32(s, OffFlags),
            VersionLo = U32(s, OffVersionLo),
            Block = s.Slice(OffBlock, BlockAreaSize).ToArray(),
            Generation = U32(s, OffGeneration),
            FileAclLo = U32(s, OffFileAclLo),
            SizeHigh = U32(s, OffSizeHigh),
            FragmentAddress = U32(s, OffFragmentAddress),
            BlocksHigh = U16(s, OffBlocksHigh),
            FileAclHigh = U16(s, OffFileAclHigh),
            UidHigh = U16(s, OffUidHigh),
            GidHigh = U16(s, OffGidHigh),
            ChecksumLo = U16(s, OffChecksumLo),
            Osd2Reserved = U16(s, OffOsd2Reserved),
        };
        if (s.Length > BaseSize)
        {
            inode.ExtraIsize = U16(s, OffExtraIsize);
            // A corrupt i_extra_isize must not send us past the inode: the extra fields that do not
            // fit are simply absent, and the whole rest is treated as the xattr area.
            var extraEnd = Math.Min(BaseSize + (int)inode.ExtraIsize, s.Length);
            static uint Extra(ReadOnlySpan<byte> s, int offset, int extraEnd) => offset + 4 <= extraEnd ? U32(s, offset) : 0;
            inode.ChecksumHi = OffChecksumHi + 2 <= extraEnd ? U16(s, OffChecksumHi) : (ushort)0;
            inode.CtimeExtra = Extra(s, OffCtimeExtra, extraEnd);
            inode.MtimeExtra = Extra(s, OffMtimeExtra, extraEnd);
            inode.AtimeExtra = Extra(s, OffAtimeExtra, extraEnd);
            inode.CrtimeLo = Extra(s, OffCrtime, extraEnd);
            inode.CrtimeExtra = Extra(s, OffCrtimeExtra, extraEnd);
            inode.VersionHi = Extra(s, OffVersionHi, extraEnd);
            inode.ProjectId = Extra(s, OffProjectId, extraEnd);
            inode.UnknownExtra = extraEnd > EndOfKnownExtra ? s[EndOfKnownExtra..extraEnd].ToArray() : Array.Empty<byte>();
            inode.InlineArea = s[Math.Max(extraEnd, OffExtraIsize + 2)..].ToArray();
        }
        return inode;
    }

    /// <summary>Writes the inode into exactly <see cref="InodeSize"/> bytes.</summary>
    public void Write(Span<byte> destination)
    {
        if (destination.Length != InodeSize || InodeSize < BaseSize)
        {
            throw new ArgumentException($"the inode is {InodeSize} bytes; the destination is {destination.Length}", nameof(destination));
        }
        if (Block.Length != BlockAreaSize)
        {
            throw new InvalidOperationException($"i_block must be {BlockAreaSize} bytes, is {Block.Length}");
        }
        var d = destination;
        d.Clear();
        PutU16(d, OffMode, Mode);
        PutU16(d, OffUidLo, UidLo);
        PutU32(d, OffSizeLo, SizeLo);
        PutU32(d, OffAtime, AtimeLo);
        PutU32(d, OffCtime, CtimeLo);
        PutU32(d, OffMtime, MtimeLo);
        PutU32(d, OffDtime, Dtime);
        PutU16(d, OffGidLo, GidLo);
        PutU16(d, OffLinksCount, LinksCount);
        PutU32(d, OffBlocksLo, BlocksLo);
        PutU32(d, OffFlags, (uint)Flags);
        PutU32(d, OffVersionLo, VersionLo);
        Block.CopyTo(d[OffBlock..]);
        PutU32(d, OffGeneration, Generation);
        PutU32(d, OffFileAclLo, FileAclLo);
        PutU32(d, OffSizeHigh, SizeHigh);
        PutU32(d, OffFragmentAddress, FragmentAddress);
        PutU16(d, OffBlocksHigh, BlocksHigh);
        PutU16(d, OffFileAclHigh, FileAclHigh);
        PutU16(d, OffUidHigh, UidHigh);
        PutU16(d, OffGidHigh, GidHigh);
        PutU16(d, OffChecksumLo, ChecksumLo);
        PutU16(d, OffOsd2Reserved, Osd2Reserved);
        if (InodeSize > BaseSize)
        {
            PutU16(d, OffExtraIsize, ExtraIsize);
            var extraEnd = Math.Min(BaseSize + (int)ExtraIsize, InodeSize);
            static void Extra(Span<byte> d, int offset, int extraEnd, uint value)
            {
                if (offset + 4 <= extraEnd)
                {
                    PutU32(d, offset, value);
                }
            }
            if (OffChecksumHi + 2 <= extraEnd)
            {
                PutU16(d, OffChecksumHi, ChecksumHi);
            }
            Extra(d, OffCtimeExtra, extraEnd, CtimeExtra);
            Extra(d, OffMtimeExtra, extraEnd, MtimeExtra);
            Extra(d, OffAtimeExtra, extraEnd, AtimeExtra);
            Extra(d, OffCrtime, extraEnd, CrtimeLo);
            Extra(d, OffCrtimeExtra, extraEnd, CrtimeExtra);
            Extra(d, OffVersionHi, extraEnd, VersionHi);
            Extra(d, OffProjectId, extraEnd, ProjectId);
            if (extraEnd > EndOfKnownExtra && UnknownExtra.Length > 0)
            {
                UnknownExtra.AsSpan(0, Math.Min(UnknownExtra.Length, extraEnd - EndOfKnownExtra)).CopyTo(d[EndOfKnownExtra..]);
            }
            var areaStart = Math.Max(extraEnd, OffExtraIsize + 2);
            if (InlineArea.Length > InodeSize - areaStart)
            {
                throw new InvalidOperationException($"the in-inode xattr area is {InlineArea.Length} bytes; only {InodeSize - areaStart} fit");
            }
            InlineArea.CopyTo(d[areaStart..]);
        }
    }

    /// <summary>
    /// The metadata_csum inode checksum: crc32c(seed, inode number, generation, inode bytes with
    /// l_i_checksum_lo and i_checksum_hi zeroed) (ext4_inode_csum). Only the low 16 bits are stored
    /// when the inode has no i_checksum_hi.
    /// </summary>
    public uint ComputeChecksum(uint checksumSeed, uint inodeNumber)
    {
        Span<byte> bytes = InodeSize <= 1024 ? stackalloc byte[InodeSize] : new byte[InodeSize];
        Write(bytes);
        bytes[OffChecksumLo] = 0;
        bytes[OffChecksumLo + 1] = 0;
        var hasHi = HasExtraField(OffChecksumHi, 2);
        if (hasHi)
        {
            bytes[OffChecksumHi] = 0;
            bytes[OffChecksumHi + 1] = 0;
        }
        var crc = Crc32c.Append(checksumSeed, inodeNumber);
        crc = Crc32c.Append(crc, Generation);
        crc = Crc32c.Compute(crc, bytes);
        return hasHi ? crc : crc & 0xFFFF;
    }

    /// <summary>
    /// Sets the checksum of an inode already serialised in <paramref name="raw"/> (its full on-disk
    /// size, generation 0 or as stored): the same crc as <see cref="ComputeChecksum"/>, without a
    /// round trip through the object. The writer stamps its inode tables this way.
    /// </summary>
    public static void StampChecksum(Span<byte> raw, uint checksumSeed, uint inodeNumber)
    {
        var extra = raw.Length > BaseSize ? BinaryPrimitives.ReadUInt16LittleEndian(raw[BaseSize..]) : 0;
        var hasHi = raw.Length > BaseSize && BaseSize + extra >= OffChecksumHi + 2;
        raw[OffChecksumLo] = 0;
        raw[OffChecksumLo + 1] = 0;
        if (hasHi)
        {
            raw[OffChecksumHi] = 0;
            raw[OffChecksumHi + 1] = 0;
        }
        var crc = Crc32c.Append(checksumSeed, inodeNumber);
        crc = Crc32c.Append(crc, BinaryPrimitives.ReadUInt32LittleEndian(raw[OffGeneration..]));
        crc = Crc32c.Compute(crc, raw);
        PutU16(raw, OffChecksumLo, (ushort)crc);
        if (hasHi)
        {
            PutU16(raw, OffChecksumHi, (ushort)(crc >> 16));
        }
    }

    /// <summary>Sets i_blocks (512-byte units) with huge_file: up to 48 bits in i_blocks_lo and l_i_blocks_high.</summary>
    public void SetBlocksIn512ByteUnitsHuge(ulong value)
    {
        if (value >= 1UL << 48)
        {
            throw new InvalidOperationException($"i_blocks {value} does not fit 48 bits");
        }
        BlocksLo = (uint)value;
        BlocksHigh = (ushort)(value >> 32);
    }

    /// <summary>Stores <see cref="ComputeChecksum"/> in l_i_checksum_lo / i_checksum_hi.</summary>
    public void UpdateChecksum(uint checksumSeed, uint inodeNumber)
    {
        var crc = ComputeChecksum(checksumSeed, inodeNumber);
        ChecksumLo = (ushort)crc;
        if (HasExtraField(OffChecksumHi, 2))
        {
            ChecksumHi = (ushort)(crc >> 16);
        }
    }

    /// <summary>Whether the stored checksum matches.</summary>
    public bool ChecksumMatches(uint checksumSeed, uint inodeNumber)
    {
        var crc = ComputeChecksum(checksumSeed, inodeNumber);
        var stored = ChecksumLo | (HasExtraField(OffChecksumHi, 2) ? (uint)ChecksumHi << 16 : 0);
        return crc == stored;
    }

    private static uint U32(ReadOnlySpan<byte> s, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(s[offset..]);

    private static ushort U16(ReadOnlySpan<byte> s, int offset) => BinaryPrimitives.ReadUInt16LittleEndian(s[offset..]);

    private static void PutU32(Span<byte> d, int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(d[offset..], value);

    private static void PutU16(Span<byte> d, int offset, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(d[offset..], value);
}
