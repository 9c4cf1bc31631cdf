using System.Buffers.Binary;

namespace ImageTools.Core.Ext.OnDisk;

/// <summary>Group descriptor flags (bg_flags).</summary>
[Flags]
public enum GroupDescriptorFlags : ushort
{
    None = 0,
    /// <summary>Inode table and bitmap are not initialised (uninit_bg / metadata_csum only).</summary>
    InodeUninit = 0x1,
    /// <summary>Block bitmap is not initialised.</summary>
    BlockUninit = 0x2,
    /// <summary>Inode table is zeroed.</summary>
    InodeTableZeroed = 0x4,
}

/// <summary>
/// One block group descriptor (struct ext4_group_desc): 32 bytes, or s_desc_size (64) with the
/// 64bit feature, whose second half holds the high words (docs/ext-format.md §4, §13).
/// </summary>
public sealed class GroupDescriptor
{
    /// <summary>Size without 64bit.</summary>
    public const int Size32 = 32;

    /// <summary>Minimum (and usual) size with 64bit.</summary>
    public const int Size64 = 64;

    private const int OffBlockBitmapLo = 0x00;
    private const int OffInodeBitmapLo = 0x04;
    private const int OffInodeTableLo = 0x08;
    private const int OffFreeBlocksCountLo = 0x0C;
    private const int OffFreeInodesCountLo = 0x0E;
    private const int OffUsedDirsCountLo = 0x10;
    private const int OffFlags = 0x12;
    private const int OffExcludeBitmapLo = 0x14;
    private const int OffBlockBitmapChecksumLo = 0x18;
    private const int OffInodeBitmapChecksumLo = 0x1A;
    private const int OffItableUnusedLo = 0x1C;
    /// <summary>Offset of bg_checksum (the crc16/crc32c covers the bytes around it).</summary>
    public const int ChecksumOffset = 0x1E;
    private const int OffBlockBitmapHi = 0x20;
    private const int OffInodeBitmapHi = 0x24;
    private const int OffInodeTableHi = 0x28;
    private const int OffFreeBlocksCountHi = 0x2C;
    private const int OffFreeInodesCountHi = 0x2E;
    private const int OffUsedDirsCountHi = 0x30;
    private const int OffItableUnusedHi = 0x32;
    private const int OffExcludeBitmapHi = 0x34;
    private const int OffBlockBitmapChecksumHi = 0x38;
    private const int OffInodeBitmapChecksumHi = 0x3A;
    private const int OffReserved = 0x3C;

    public ulong BlockBitmap { get; set; }
    public ulong InodeBitmap { get; set; }
    public ulong InodeTable { get; set; }
    public uint FreeBlocksCount { get; set; }
    public uint FreeInodesCount { get; set; }
    public uint UsedDirsCount { get; set; }
    public GroupDescriptorFlags Flags { get; set; }
    public ulong ExcludeBitmap { get; set; }
    public uint BlockBitmapChecksum { get; set; }
    public uint InodeBitmapChecksum { get; set; }
    public uint ItableUnused { get; set; }
    public ushort Checksum { get; set; }

    /// <summary>bg_reserved of the 64-byte form, kept verbatim.</summary>
    public uint Reserved { get; set; }

    /// <summary>Bytes past 64 when s_desc_size is larger, kept verbatim.</summary>
    public byte[] Extra { get; set; } = Array.Empty<byte>();

    /// <summary>Reads a descriptor of <paramref name="size"/> bytes (32, or s_desc_size with 64bit).</summary>
    public static GroupDescriptor Read(ReadOnlySpan<byte> source, int size)
    {
        if (size != Size32 && size < Size64)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "a group descriptor is 32 bytes, or at least 64 with 64bit");
        }
        var s = source[..size];
        var wide = size >= Size64;
        return new GroupDescriptor
        {
            BlockBitmap = Wide(U32(s, OffBlockBitmapLo), wide ? U32(s, OffBlockBitmapHi) : 0),
            InodeBitmap = Wide(U32(s, OffInodeBitmapLo), wide ? U32(s, OffInodeBitmapHi) : 0),
            InodeTable = Wide(U32(s, OffInodeTableLo), wide ? U32(s, OffInodeTableHi) : 0),
            FreeBlocksCount = U16(s, OffFreeBlocksCountLo) | (wide ? (uint)U16(s, OffFreeBlocksCountHi) << 16 : 0),
            FreeInodesCount = U16(s, OffFreeInodesCountLo) | (wide ? (uint)U16(s, OffFreeInodesCountHi) << 16 : 0),
            UsedDirsCount = U16(s, OffUsedDirsCountLo) | (wide ? (uint)U16(s, OffUsedDirsCountHi) << 16 : 0),
            Flags = (GroupDescriptorFlags)U16(s, OffFlags),
            ExcludeBitmap = Wide(U32(s, OffExcludeBitmapLo), wide ? U32(s, OffExcludeBitmapHi) : 0),
            BlockBitmapChecksum = U16(s, OffBlockBitmapChecksumLo) | (wide ? (uint)U16(s, OffBlockBitmapChecksumHi) << 16 : 0),
            InodeBitmapChecksum = U16(s, OffInodeBitmapChecksumLo) | (wide ? (uint)U16(s, OffInodeBitmapChecksumHi) << 16 : 0),
            ItableUnused = U16(s, OffItableUnusedLo) | (wide ? (uint)U16(s, OffItableUnusedHi) << 16 : 0),
            Checksum = U16(s, ChecksumOffset),
            Reserved = wide ? U32(s, OffReserved) : 0,
            Extra = size > Size64 ? s[Size64..].ToArray() : Array.Empty<byte>(),
        };
    }

    /// <summary>Writes <paramref name="size"/> bytes; values that need the high half require size ≥ 64.</summary>
    public void Write(Span<byte> destination, int size)
    {
        if (size != Size32 && size < Size64)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "a group descriptor is 32 bytes, or at least 64 with 64bit");
        }
        var d = destination[..size];
        d.Clear();
        var wide = size >= Size64;
        if (!wide && (BlockBitmap > uint.MaxValue || InodeBitmap > uint.MaxValue || InodeTable > uint.MaxValue
            || FreeBlocksCount > ushort.MaxValue || FreeInodesCount > ushort.MaxValue || UsedDirsCount > ushort.MaxValue
            || ItableUnused > ushort.MaxValue || ExcludeBitmap > uint.MaxValue))
        {
            throw new InvalidOperationException("a 32-byte group descriptor cannot hold block numbers over 2^32 or counts over 65535");
        }
        PutU32(d, OffBlockBitmapLo, (uint)BlockBitmap);
        PutU32(d, OffInodeBitmapLo, (uint)InodeBitmap);
        PutU32(d, OffInodeTableLo, (uint)InodeTable);
        PutU16(d, OffFreeBlocksCountLo, (ushort)FreeBlocksCount);
        PutU16(d, OffFreeInodesCountLo, (ushort)FreeInodesCount);
        PutU16(d, OffUsedDirsCountLo, (ushort)UsedDirsCount);
        PutU16(d, OffFlags, (ushort)Flags);
        PutU32(d, OffExcludeBitmapLo, (uint)ExcludeBitmap);
        PutU16(d, OffBlockBitmapChecksumLo, (ushort)BlockBitmapChecksum);
        PutU16(d, OffInodeBitmapChecksumLo, (ushort)InodeBitmapChecksum);
        PutU16(d, OffItableUnusedLo, (ushort)ItableUnused);
        PutU16(d, ChecksumOffset, Checksum);
        if (wide)
        {
            PutU32(d, OffBlockBitmapHi, (uint)(BlockBitmap >> 32));
            PutU32(d, OffInodeBitmapHi, (uint)(InodeBitmap >> 32));
            PutU32(d, OffInodeTableHi, (uint)(InodeTable >> 32));
            PutU16(d, OffFreeBlocksCountHi, (ushort)(FreeBlocksCount >> 16));
            PutU16(d, OffFreeInodesCountHi, (ushort)(FreeInodesCount >> 16));
            PutU16(d, OffUsedDirsCountHi, (ushort)(UsedDirsCount >> 16));
            PutU16(d, OffItableUnusedHi, (ushort)(ItableUnused >> 16));
            PutU32(d, OffExcludeBitmapHi, (uint)(ExcludeBitmap >> 32));
            PutU16(d, OffBlockBitmapChecksumHi, (ushort)(BlockBitmapChecksum >> 16));
            PutU16(d, OffInodeBitmapChecksumHi, (ushort)(InodeBitmapChecksum >> 16));
            PutU32(d, OffReserved, Reserved);
            if (size > Size64)
            {
                if (Extra.Length != 0 && Extra.Length != size - Size64)
                {
                    throw new InvalidOperationException($"group descriptor tail is {Extra.Length} bytes, expected {size - Size64}");
                }
                Extra.CopyTo(d[Size64..]);
            }
        }
    }

    /// <summary>
    /// The checksum bg_checksum should hold: with metadata_csum the low 16 bits of
    /// crc32c(seed, group number, descriptor with bg_checksum zeroed); with uninit_bg (gdt_csum) the
    /// crc16 over UUID, group number and the descriptor around the field (ext4_group_desc_csum).
    /// Returns the current value when neither feature is on.
    /// </summary>
    public ushort ComputeChecksum(Superblock sb, uint groupNumber)
    {
        var size = sb.GroupDescriptorSize;
        Span<byte> raw = stackalloc byte[Math.Max(size, Size64)];
        var bytes = raw[..size];
        Write(bytes, size);
        if (sb.HasMetadataChecksums)
        {
            bytes[ChecksumOffset] = 0;
            bytes[ChecksumOffset + 1] = 0;
            var crc = Crc32c.Append(sb.MetadataChecksumSeed, groupNumber);
            crc = Crc32c.Compute(crc, bytes);
            return (ushort)(crc & 0xFFFF);
        }
        if (sb.HasGroupDescriptorChecksums)
        {
            Span<byte> group = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(group, groupNumber);
            var crc = Crc16.Compute(0xFFFF, sb.Uuid);
            crc = Crc16.Compute(crc, group);
            crc = Crc16.Compute(crc, bytes[..ChecksumOffset]);
            if (size > ChecksumOffset + 2)
            {
                crc = Crc16.Compute(crc, bytes[(ChecksumOffset + 2)..]);
            }
            return crc;
        }
        return Checksum;
    }

    private static ulong Wide(uint lo, uint hi) => lo | ((ulong)hi << 32);

    private static uint U32(ReadOnlySpan<byte> s, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(s[offset..]);

    private static ushort U16(ReadOnlySpan<byte> s, int offset) => BinaryPrimitives.ReadUInt16LittleEndian(s[offset..]);

    private static void PutU32(Span<byte> d, int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(d[offset..], value);

    private static void PutU16(Span<byte> d, int offset, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(d[offset..], value);
}
