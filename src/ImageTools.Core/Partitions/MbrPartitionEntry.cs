using System.Buffers.Binary;

namespace ImageTools.Core.Partitions;

/// <summary>
/// One 16-byte partition entry of an MBR or EBR sector:
/// <code>
/// 0x00  status       0x80 = bootable ("active"), 0x00 = not
/// 0x01  first CHS    3 bytes, see <see cref="ChsAddress"/>
/// 0x04  type         system indicator, see <see cref="MbrPartitionType"/>
/// 0x05  last CHS     3 bytes
/// 0x08  start LBA    u32 little-endian; relative to the MBR (0), to the EBR holding the entry (logical
///                    partition) or to the start of the extended partition (link to the next EBR)
/// 0x0C  sector count u32 little-endian
/// </code>
/// Reading accepts any bytes (the table that holds the entry knows its partition number and reports a bad
/// status with it); writing refuses a status other than 0x00/0x80 and CHS values out of range.
/// </summary>
public sealed record MbrPartitionEntry
{
    public const int Size = 16;
    public const int StatusOffset = 0;
    public const int FirstChsOffset = StatusOffset + 1;
    public const int TypeOffset = FirstChsOffset + ChsAddress.Size;
    public const int LastChsOffset = TypeOffset + 1;
    public const int StartLbaOffset = LastChsOffset + ChsAddress.Size;
    public const int SectorCountOffset = StartLbaOffset + sizeof(uint);

    /// <summary>Status of a partition the BIOS boot code may boot from.</summary>
    public const byte BootableStatus = 0x80;

    /// <summary>Status of every other partition.</summary>
    public const byte NotBootableStatus = 0x00;

    /// <summary>An all-zero entry.</summary>
    public static MbrPartitionEntry Empty { get; } = new();

    public byte Status { get; init; }

    public ChsAddress FirstChs { get; init; }

    public byte Type { get; init; }

    public ChsAddress LastChs { get; init; }

    /// <summary>Start LBA, relative to the sector this entry's addresses count from (see the type comment).</summary>
    public uint StartLba { get; init; }

    public uint SectorCount { get; init; }

    public bool IsBootable => Status == BootableStatus;

    /// <summary>The only status values the Linux kernel accepts in an MBR (msdos.c rejects the table otherwise).</summary>
    public bool HasValidStatus => Status is NotBootableStatus or BootableStatus;

    /// <summary>
    /// Whether the entry describes a partition. Like the Linux kernel and sfdisk, only the size counts: an
    /// entry with sectors is a partition even with type 0, and one with no sectors is not, whatever its type.
    /// </summary>
    public bool IsUsed => SectorCount != 0;

    /// <summary>Every byte zero: the entry was never filled in (or was cleared).</summary>
    public bool IsBlank => this == Empty;

    public bool IsExtended => MbrPartitionType.IsExtended(Type);

    /// <summary>
    /// An entry for sectors <paramref name="absoluteStart"/> .. +<paramref name="sectorCount"/> whose LBA field counts
    /// from <paramref name="lbaBase"/>. The CHS fields always translate the absolute sectors, as sfdisk writes them.
    /// </summary>
    public static MbrPartitionEntry Create(byte type, long absoluteStart, long sectorCount, long lbaBase, bool bootable,
        DiskGeometry geometry)
    {
        if (sectorCount <= 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"a partition entry needs at least one sector, got {sectorCount}");
        }
        var relativeStart = absoluteStart - lbaBase;
        if (relativeStart < 0 || relativeStart > uint.MaxValue)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"sector {absoluteStart} cannot be stored in an MBR entry counting from sector {lbaBase}: the LBA field holds 0..{uint.MaxValue}");
        }
        if (sectorCount > uint.MaxValue)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"{sectorCount} sectors do not fit the 32-bit size field of an MBR entry (at most {uint.MaxValue}); use GPT for disks over 2 TiB");
        }
        return new MbrPartitionEntry
        {
            Status = bootable ? BootableStatus : NotBootableStatus,
            FirstChs = ChsAddress.FromLba(absoluteStart, geometry),
            Type = type,
            LastChs = ChsAddress.FromLba(absoluteStart + sectorCount - 1, geometry),
            StartLba = (uint)relativeStart,
            SectorCount = (uint)sectorCount,
        };
    }

    public static MbrPartitionEntry Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            throw new ArgumentException($"an MBR partition entry needs {Size} bytes, got {source.Length}", nameof(source));
        }
        return new MbrPartitionEntry
        {
            Status = source[StatusOffset],
            FirstChs = ChsAddress.Read(source[FirstChsOffset..]),
            Type = source[TypeOffset],
            LastChs = ChsAddress.Read(source[LastChsOffset..]),
            StartLba = BinaryPrimitives.ReadUInt32LittleEndian(source[StartLbaOffset..]),
            SectorCount = BinaryPrimitives.ReadUInt32LittleEndian(source[SectorCountOffset..]),
        };
    }

    public void Write(Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            throw new ArgumentException($"an MBR partition entry needs {Size} bytes, got {destination.Length}", nameof(destination));
        }
        if (!HasValidStatus)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"MBR entry status 0x{Status:x2} is invalid: only 0x00 and 0x80 (bootable) are allowed");
        }
        destination[StatusOffset] = Status;
        FirstChs.Write(destination[FirstChsOffset..]);
        destination[TypeOffset] = Type;
        LastChs.Write(destination[LastChsOffset..]);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[StartLbaOffset..], StartLba);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[SectorCountOffset..], SectorCount);
    }

    public override string ToString() =>
        $"status 0x{Status:x2}, type 0x{Type:x2}, start {StartLba}, {SectorCount} sectors, CHS {FirstChs}-{LastChs}";
}
