using System.Buffers.Binary;
using System.Text;

namespace ImageTools.Core.Fat;

/// <summary>FAT16 or FAT32: which BPB extension the boot sector carries and how wide a FAT entry is.</summary>
public enum FatType
{
    Fat16 = 16,
    Fat32 = 32,
}

/// <summary>
/// The boot sector of a FAT16 or FAT32 volume (Microsoft's FAT specification, "fatgen103", section 3):
/// <code>
/// 0x00  jump                 EB xx 90
/// 0x03  OEM name             8 bytes
/// 0x0B  bytes per sector     u16 (512)
/// 0x0D  sectors per cluster  u8, a power of two
/// 0x0E  reserved sectors     u16 (FAT16: 1 here; FAT32: 32, holding FSInfo at 1 and a backup boot sector at 6)
/// 0x10  number of FATs       u8 (2)
/// 0x11  root entries         u16 (FAT16: 512; FAT32: 0, the root is a cluster chain)
/// 0x13  total sectors 16     u16 (0 when it does not fit: then total sectors 32)
/// 0x15  media                u8 (0xF8, fixed disk; also the low byte of FAT[0])
/// 0x16  FAT size 16          u16 (FAT16; 0 on FAT32)
/// 0x18  sectors per track    u16,  0x1A heads u16,  0x1C hidden sectors u32 (the partition's start LBA)
/// 0x20  total sectors 32     u32
/// FAT16 from 0x24: drive 0x80, reserved, boot signature 0x29, volume ID u32, label 11 bytes, "FAT16   "
/// FAT32 from 0x24: FAT size 32 u32, flags u16, version u16, root cluster u32 (0x2C), FSInfo sector u16 (0x30),
///                  backup boot sector u16 (0x32), 12 reserved, then drive, reserved, 0x29, volume ID, label, "FAT32   " from 0x40
/// 0x1FE 55 AA
/// </code>
/// </summary>
public sealed record FatBootSector
{
    public const int Size = 512;
    public const int BytesPerSectorOffset = 0x0B;
    public const int SectorsPerClusterOffset = 0x0D;
    public const int ReservedSectorsOffset = 0x0E;
    public const int FatCountOffset = 0x10;
    public const int RootEntriesOffset = 0x11;
    public const int TotalSectors16Offset = 0x13;
    public const int MediaOffset = 0x15;
    public const int FatSize16Offset = 0x16;
    public const int SectorsPerTrackOffset = 0x18;
    public const int HeadsOffset = 0x1A;
    public const int HiddenSectorsOffset = 0x1C;
    public const int TotalSectors32Offset = 0x20;
    public const int Fat32FatSizeOffset = 0x24;
    public const int Fat32RootClusterOffset = 0x2C;
    public const int Fat32FsInfoOffset = 0x30;
    public const int Fat32BackupBootOffset = 0x32;
    public const int Fat16ExtendedOffset = 0x24;
    public const int Fat32ExtendedOffset = 0x40;
    public const byte ExtendedBootSignature = 0x29;
    public const byte FixedDiskMedia = 0xF8;

    /// <summary>Fewer clusters than this is FAT12, from here to <see cref="MaxFat16Clusters"/> FAT16, more FAT32 (the count decides, not the label).</summary>
    public const int MinFat16Clusters = 4085;
    public const int MaxFat16Clusters = 65524;

    public required FatType Type { get; init; }
    public int BytesPerSector { get; init; } = 512;
    public required int SectorsPerCluster { get; init; }
    public required int ReservedSectors { get; init; }
    public int FatCount { get; init; } = 2;
    public int RootEntries { get; init; }
    public required long TotalSectors { get; init; }
    public byte Media { get; init; } = FixedDiskMedia;
    public required long FatSectors { get; init; }
    public int SectorsPerTrack { get; init; } = 63;
    public int Heads { get; init; } = 255;
    public uint HiddenSectors { get; init; }
    public uint RootCluster { get; init; } = 2;
    public int FsInfoSector { get; init; } = 1;
    public int BackupBootSector { get; init; } = 6;
    public uint VolumeId { get; init; }
    public string Label { get; init; } = "NO NAME";

    public int ClusterBytes => BytesPerSector * SectorsPerCluster;
    public long FatStartSector => ReservedSectors;
    public long RootDirectorySectors => ((long)RootEntries * 32 + BytesPerSector - 1) / BytesPerSector;
    public long RootDirectoryStartSector => FatStartSector + FatCount * FatSectors;
    public long DataStartSector => RootDirectoryStartSector + RootDirectorySectors;
    public long ClusterCount => (TotalSectors - DataStartSector) / SectorsPerCluster;

    /// <summary>The byte offset of cluster <paramref name="cluster"/> (2 is the first) in the volume.</summary>
    public long ClusterOffset(uint cluster) => (DataStartSector + (long)(cluster - 2) * SectorsPerCluster) * BytesPerSector;

    public static FatBootSector Read(ReadOnlySpan<byte> sector, string source)
    {
        if (sector.Length < Size || sector[0x1FE] != 0x55 || sector[0x1FF] != 0xAA)
        {
            throw Invalid(source, "no boot sector signature 0x55AA at byte 0x1FE");
        }
        var fatSize16 = BinaryPrimitives.ReadUInt16LittleEndian(sector[FatSize16Offset..]);
        var total16 = BinaryPrimitives.ReadUInt16LittleEndian(sector[TotalSectors16Offset..]);
        var type = fatSize16 == 0 ? FatType.Fat32 : FatType.Fat16;
        var ext = type == FatType.Fat32 ? Fat32ExtendedOffset : Fat16ExtendedOffset;
        var boot = new FatBootSector
        {
            Type = type,
            BytesPerSector = BinaryPrimitives.ReadUInt16LittleEndian(sector[BytesPerSectorOffset..]),
            SectorsPerCluster = sector[SectorsPerClusterOffset],
            ReservedSectors = BinaryPrimitives.ReadUInt16LittleEndian(sector[ReservedSectorsOffset..]),
            FatCount = sector[FatCountOffset],
            RootEntries = BinaryPrimitives.ReadUInt16LittleEndian(sector[RootEntriesOffset..]),
            TotalSectors = total16 != 0 ? total16 : BinaryPrimitives.ReadUInt32LittleEndian(sector[TotalSectors32Offset..]),
            Media = sector[MediaOffset],
            FatSectors = fatSize16 != 0 ? fatSize16 : BinaryPrimitives.ReadUInt32LittleEndian(sector[Fat32FatSizeOffset..]),
            SectorsPerTrack = BinaryPrimitives.ReadUInt16LittleEndian(sector[SectorsPerTrackOffset..]),
            Heads = BinaryPrimitives.ReadUInt16LittleEndian(sector[HeadsOffset..]),
            HiddenSectors = BinaryPrimitives.ReadUInt32LittleEndian(sector[HiddenSectorsOffset..]),
            RootCluster = type == FatType.Fat32 ? BinaryPrimitives.ReadUInt32LittleEndian(sector[Fat32RootClusterOffset..]) : 0,
            FsInfoSector = type == FatType.Fat32 ? BinaryPrimitives.ReadUInt16LittleEndian(sector[Fat32FsInfoOffset..]) : 0,
            BackupBootSector = type == FatType.Fat32 ? BinaryPrimitives.ReadUInt16LittleEndian(sector[Fat32BackupBootOffset..]) : 0,
            VolumeId = sector[ext + 2] == ExtendedBootSignature ? BinaryPrimitives.ReadUInt32LittleEndian(sector[(ext + 3)..]) : 0,
            Label = sector[ext + 2] == ExtendedBootSignature ? Encoding.ASCII.GetString(sector.Slice(ext + 7, 11)).TrimEnd(' ') : "",
        };
        boot.Check(source);
        return boot;
    }

    public void Write(Span<byte> sector)
    {
        Check("FAT boot sector to write");
        sector[..Size].Clear();
        var fat32 = Type == FatType.Fat32;
        sector[0] = 0xEB;
        sector[1] = (byte)((fat32 ? 0x5A : 0x3E) - 2);
        sector[2] = 0x90;
        "IMGTOOLS"u8.CopyTo(sector[3..]);
        BinaryPrimitives.WriteUInt16LittleEndian(sector[BytesPerSectorOffset..], (ushort)BytesPerSector);
        sector[SectorsPerClusterOffset] = (byte)SectorsPerCluster;
        BinaryPrimitives.WriteUInt16LittleEndian(sector[ReservedSectorsOffset..], (ushort)ReservedSectors);
        sector[FatCountOffset] = (byte)FatCount;
        BinaryPrimitives.WriteUInt16LittleEndian(sector[RootEntriesOffset..], (ushort)RootEntries);
        if (TotalSectors < 0x10000)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(sector[TotalSectors16Offset..], (ushort)TotalSectors);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(sector[TotalSectors32Offset..], (uint)TotalSectors);
        }
        sector[MediaOffset] = Media;
        BinaryPrimitives.WriteUInt16LittleEndian(sector[SectorsPerTrackOffset..], (ushort)SectorsPerTrack);
        BinaryPrimitives.WriteUInt16LittleEndian(sector[HeadsOffset..], (ushort)Heads);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[HiddenSectorsOffset..], HiddenSectors);
        int ext;
        if (fat32)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(sector[Fat32FatSizeOffset..], (uint)FatSectors);
            BinaryPrimitives.WriteUInt32LittleEndian(sector[Fat32RootClusterOffset..], RootCluster);
            BinaryPrimitives.WriteUInt16LittleEndian(sector[Fat32FsInfoOffset..], (ushort)FsInfoSector);
            BinaryPrimitives.WriteUInt16LittleEndian(sector[Fat32BackupBootOffset..], (ushort)BackupBootSector);
            ext = Fat32ExtendedOffset;
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(sector[FatSize16Offset..], (ushort)FatSectors);
            ext = Fat16ExtendedOffset;
        }
        sector[ext] = 0x80;
        sector[ext + 2] = ExtendedBootSignature;
        BinaryPrimitives.WriteUInt32LittleEndian(sector[(ext + 3)..], VolumeId);
        Encoding.ASCII.GetBytes(Label.PadRight(11)).CopyTo(sector.Slice(ext + 7, 11));
        Encoding.ASCII.GetBytes(fat32 ? "FAT32   " : "FAT16   ").CopyTo(sector.Slice(ext + 18, 8));
        // Boot code: INT 18h ("no bootable disk here, try the next one"), as the volume is not meant to be booted by a BIOS.
        var code = ext + 26;
        sector[code] = 0xCD;
        sector[code + 1] = 0x18;
        sector[0x1FE] = 0x55;
        sector[0x1FF] = 0xAA;
    }

    private void Check(string source)
    {
        if (BytesPerSector is not (512 or 1024 or 2048 or 4096))
        {
            throw Invalid(source, $"bytes per sector {BytesPerSector} (0x0B) is not 512, 1024, 2048 or 4096");
        }
        if (SectorsPerCluster is < 1 or > 128 || (SectorsPerCluster & (SectorsPerCluster - 1)) != 0)
        {
            throw Invalid(source, $"sectors per cluster {SectorsPerCluster} (0x0D) is not a power of two up to 128");
        }
        if (ReservedSectors < 1 || FatCount is < 1 or > 4 || FatSectors < 1)
        {
            throw Invalid(source, $"reserved sectors {ReservedSectors}, FAT count {FatCount} or FAT size {FatSectors} is zero or absurd");
        }
        if (DataStartSector >= TotalSectors)
        {
            throw Invalid(source, $"the data area would start at sector {DataStartSector}, past the volume's {TotalSectors} sectors");
        }
        var clusters = ClusterCount;
        var counted = clusters < MinFat16Clusters ? "FAT12" : clusters <= MaxFat16Clusters ? "FAT16" : "FAT32";
        if (counted != (Type == FatType.Fat32 ? "FAT32" : "FAT16"))
        {
            throw Invalid(source, $"{clusters} clusters make a {counted} volume, but the boot sector is laid out for {Type}" +
                                  (counted == "FAT12" ? " (FAT12 is not supported)" : ""));
        }
        var entryBytes = Type == FatType.Fat32 ? 4 : 2;
        if (FatSectors * BytesPerSector < (clusters + 2) * entryBytes)
        {
            throw Invalid(source, $"a FAT of {FatSectors} sectors cannot map {clusters} clusters");
        }
        if (Type == FatType.Fat32 && (RootCluster < 2 || RootCluster >= clusters + 2))
        {
            throw Invalid(source, $"root cluster {RootCluster} (0x2C) is outside the clusters 2-{clusters + 1}");
        }
        if (Type == FatType.Fat16 && RootEntries == 0)
        {
            throw Invalid(source, "a FAT16 volume with no root directory entries (0x11)");
        }
        if (Label.Length > 11)
        {
            throw Invalid(source, $"volume label \"{Label}\" is longer than 11 characters");
        }
    }

    private static ImageToolsException Invalid(string source, string message) =>
        new(ErrorKind.CorruptImage, $"{source}: FAT boot sector: {message}") { Path = source };
}
