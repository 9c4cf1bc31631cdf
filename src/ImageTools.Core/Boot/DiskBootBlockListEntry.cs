using System.Buffers.Binary;

namespace ImageTools.Core.Boot;

/// <summary>
/// One entry of diskboot.img's block list (GRUB 2.06 grub-core/boot/i386/pc/diskboot.S, struct
/// grub_pc_bios_boot_blocklist): read <see cref="SectorCount"/> sectors from <see cref="StartLba"/>
/// to real-mode segment <see cref="Segment"/>. The list grows downward from the end of the sector:
/// entry k is 12 bytes below entry k−1, and an entry with count 0 ends it. The sector holding
/// diskboot itself is not in the list (boot.img's kernel-sector field points to it).
/// </summary>
public readonly record struct DiskBootBlockListEntry(ulong StartLba, ushort SectorCount, ushort Segment)
{
    /// <summary>u64 start, u16 count, u16 segment.</summary>
    public const int Size = 12;

    /// <summary>Entry 0 sits in the last 12 bytes of the 512-byte sector (start at 0x1F4).</summary>
    public const int FirstEntryOffset = I386PcLayout.SectorSize - Size;

    private const int StartLbaOffset = 0;
    private const int SectorCountOffset = StartLbaOffset + 8;
    private const int SegmentOffset = SectorCountOffset + 2;

    /// <summary>Where entry <paramref name="index"/> lies in the diskboot sector.</summary>
    public static int OffsetOf(int index) => FirstEntryOffset - index * Size;

    /// <summary>Reads entry <paramref name="index"/> of the list in a 512-byte diskboot sector.</summary>
    public static DiskBootBlockListEntry Read(ReadOnlySpan<byte> diskBootSector, int index)
    {
        CheckSector(diskBootSector.Length, index);
        var entry = diskBootSector[OffsetOf(index)..];
        return new DiskBootBlockListEntry(
            BinaryPrimitives.ReadUInt64LittleEndian(entry[StartLbaOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(entry[SectorCountOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(entry[SegmentOffset..]));
    }

    /// <summary>Writes this entry as entry <paramref name="index"/> of the list in a 512-byte diskboot sector.</summary>
    public void Write(Span<byte> diskBootSector, int index)
    {
        CheckSector(diskBootSector.Length, index);
        if (SectorCount != 0 && Segment == 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "diskboot block list: an entry that loads sectors needs a segment to load them to");
        }
        var entry = diskBootSector[OffsetOf(index)..];
        BinaryPrimitives.WriteUInt64LittleEndian(entry[StartLbaOffset..], StartLba);
        BinaryPrimitives.WriteUInt16LittleEndian(entry[SectorCountOffset..], SectorCount);
        BinaryPrimitives.WriteUInt16LittleEndian(entry[SegmentOffset..], Segment);
    }

    private static void CheckSector(int length, int index)
    {
        if (length != I386PcLayout.SectorSize)
        {
            throw new ArgumentException($"diskboot.img is one {I386PcLayout.SectorSize}-byte sector, got {length} bytes");
        }
        if (index < 0 || OffsetOf(index) < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, "no such block list entry in one sector");
        }
    }
}
