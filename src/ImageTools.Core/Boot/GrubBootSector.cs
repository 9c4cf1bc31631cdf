using System.Buffers.Binary;

namespace ImageTools.Core.Boot;

/// <summary>
/// Puts GRUB's boot.img into a disk's MBR sector the way grub-bios-setup does (GRUB 2.06
/// util/setup.c; offsets from include/grub/i386/pc/boot.h): boot.img's code replaces the sector's
/// code area, while the sector's BIOS parameter block area, disk signature, partition table and
/// boot signature stay the disk's. Then three fields are set: the LBA of core.img's first sector,
/// the boot drive ("use what the BIOS passes in DL") and the drive check (turned off for hard disks).
/// Works on a <see cref="Span{T}"/> so it composes with whatever wrote the partition table.
/// </summary>
public static class GrubBootSector
{
    /// <summary>A short jump over the BPB: the first bytes of boot.img, always copied.</summary>
    public const int JumpOffset = 0x000;

    /// <summary>BIOS parameter block area (GRUB_BOOT_MACHINE_BPB_START..END): kept from the disk.</summary>
    public const int BiosParameterBlockStart = 0x003;

    /// <summary>End (exclusive) of the BPB area; boot.img's code and fields resume here.</summary>
    public const int BiosParameterBlockEnd = 0x05A;

    /// <summary>u16: the address boot.img jumps to after loading the first core sector (0x8000).</summary>
    public const int KernelAddressOffset = 0x05A;

    /// <summary>u64: LBA of core.img's first sector (GRUB_BOOT_MACHINE_KERNEL_SECTOR).</summary>
    public const int KernelSectorOffset = 0x05C;

    /// <summary>u8: boot drive; 0xFF = use DL from the BIOS (GRUB_BOOT_MACHINE_BOOT_DRIVE).</summary>
    public const int BootDriveOffset = 0x064;

    /// <summary>
    /// 2 bytes: a short jump that skips the "is DL a hard disk?" test (GRUB_BOOT_MACHINE_DRIVE_CHECK).
    /// grub-bios-setup replaces it with two NOPs for a hard disk, so a BIOS that passes a DL without
    /// bit 7 still boots from 0x80.
    /// </summary>
    public const int DriveCheckOffset = 0x066;

    /// <summary>Where the disk's own data starts: disk signature (0x1B8), 2 reserved bytes, partition table (0x1BE).</summary>
    public const int DiskSignatureOffset = 0x1B8;

    /// <summary>The partition table (four 16-byte entries); in boot.img these bytes are floppy code, never copied.</summary>
    public const int PartitionTableOffset = 0x1BE;

    /// <summary>The boot signature 55 AA.</summary>
    public const int BootSignatureOffset = 0x1FE;

    /// <summary>The boot drive value meaning "use the drive the BIOS booted from".</summary>
    public const byte BootDriveFromBios = 0xFF;

    private static ReadOnlySpan<byte> BootSignature => [0x55, 0xAA];
    private static ReadOnlySpan<byte> DriveCheckJump => [0xEB, 0x05];
    private static ReadOnlySpan<byte> TwoNops => [0x90, 0x90];

    /// <summary>
    /// Checks that <paramref name="bootImage"/> is an i386-pc boot.img with the layout this class
    /// patches. Throws <see cref="ErrorKind.CorruptImage"/> naming what differs.
    /// </summary>
    public static void Validate(ReadOnlySpan<byte> bootImage, string sourceName = "boot.img")
    {
        if (bootImage.Length != I386PcLayout.SectorSize)
        {
            throw Corrupt(sourceName, $"is {bootImage.Length} bytes, not one {I386PcLayout.SectorSize}-byte sector");
        }
        if (!bootImage[BootSignatureOffset..].SequenceEqual(BootSignature))
        {
            throw Corrupt(sourceName, $"has no 55 AA boot signature at offset 0x{BootSignatureOffset:X}");
        }
        // A short jump (EB rel8) from offset 0 that lands past the BPB: otherwise the bytes we keep
        // from the disk would be executed.
        if (bootImage[JumpOffset] != 0xEB || 2 + bootImage[JumpOffset + 1] < BiosParameterBlockEnd)
        {
            throw Corrupt(sourceName, $"does not start with a short jump over the BPB (found {Convert.ToHexString(bootImage[..2])})");
        }
        ushort kernelAddress = BinaryPrimitives.ReadUInt16LittleEndian(bootImage[KernelAddressOffset..]);
        if (kernelAddress != I386PcLayout.DiskBootLoadAddress)
        {
            throw Corrupt(sourceName, $"jumps to 0x{kernelAddress:X} (u16 at 0x{KernelAddressOffset:X}), not 0x{I386PcLayout.DiskBootLoadAddress:X}: not the boot.img layout of GRUB 2 i386-pc");
        }
        var driveCheck = bootImage.Slice(DriveCheckOffset, 2);
        if (!driveCheck.SequenceEqual(DriveCheckJump) && !driveCheck.SequenceEqual(TwoNops))
        {
            throw Corrupt(sourceName, $"has {Convert.ToHexString(driveCheck)} at the drive check (0x{DriveCheckOffset:X}), expected EB05 or 9090");
        }
    }

    /// <summary>
    /// Writes boot.img into <paramref name="mbrSector"/> (512 bytes, already holding the disk's
    /// signature and partition table, which are kept) and points it at core.img's first sector.
    /// </summary>
    /// <param name="bootImage">boot.img from the GRUB platform directory.</param>
    /// <param name="mbrSector">Sector 0 of the disk, modified in place.</param>
    /// <param name="coreImageLba">LBA of core.img's first sector (diskboot.img); 1 when embedded right after the MBR.</param>
    public static void Install(ReadOnlySpan<byte> bootImage, Span<byte> mbrSector, ulong coreImageLba = 1)
    {
        Validate(bootImage);
        if (mbrSector.Length != I386PcLayout.SectorSize)
        {
            throw new ArgumentException($"the MBR sector must be {I386PcLayout.SectorSize} bytes, got {mbrSector.Length}", nameof(mbrSector));
        }
        if (coreImageLba == 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "core.img cannot start at LBA 0: that is the MBR itself");
        }

        bootImage[JumpOffset..BiosParameterBlockStart].CopyTo(mbrSector[JumpOffset..]);
        bootImage[BiosParameterBlockEnd..DiskSignatureOffset].CopyTo(mbrSector[BiosParameterBlockEnd..]);
        BinaryPrimitives.WriteUInt64LittleEndian(mbrSector[KernelSectorOffset..], coreImageLba);
        mbrSector[BootDriveOffset] = BootDriveFromBios;
        TwoNops.CopyTo(mbrSector[DriveCheckOffset..]);
        BootSignature.CopyTo(mbrSector[BootSignatureOffset..]);
    }

    /// <summary>The core image LBA an installed MBR points to (u64 at 0x5C).</summary>
    public static ulong ReadCoreImageLba(ReadOnlySpan<byte> mbrSector) =>
        BinaryPrimitives.ReadUInt64LittleEndian(mbrSector[KernelSectorOffset..]);

    private static ImageToolsException Corrupt(string sourceName, string what) =>
        new(ErrorKind.CorruptImage, $"{sourceName} {what}") { Path = sourceName };
}
