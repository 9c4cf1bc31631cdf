namespace ImageTools.Core.Boot;

/// <summary>
/// Installs GRUB onto a disk image the way grub-bios-setup does for an MBR disk, without Reed-Solomon
/// codes: core.img into the gap after the MBR (from its LBA, 1 by default), then boot.img into the
/// MBR's code area, pointing at it. The disk's partition table must already be in sector 0.
/// </summary>
public static class GrubDiskInstaller
{
    /// <summary>
    /// Writes <paramref name="core"/> at its LBA and patches sector 0 of <paramref name="disk"/>
    /// (seekable, readable and writable).
    /// </summary>
    /// <param name="disk">The whole disk.</param>
    /// <param name="bootImage">boot.img (<see cref="GrubPlatformDirectory.BootImage"/>).</param>
    /// <param name="core">The core image, built for the LBA it is written at.</param>
    /// <param name="firstPartitionStartLba">
    /// The lowest start LBA of any partition on the disk (whichever slot it is in): the core image must
    /// end before it. Null when the disk has no partition (then only the disk's size limits it).
    /// </param>
    public static void Install(Stream disk, ReadOnlySpan<byte> bootImage, GrubCoreImage core, long? firstPartitionStartLba)
    {
        if (!disk.CanSeek || !disk.CanRead || !disk.CanWrite)
        {
            throw new ArgumentException("installing GRUB needs a seekable, readable and writable disk stream", nameof(disk));
        }
        const int sector = I386PcLayout.SectorSize;
        long coreStart = checked((long)core.Lba);
        long coreEnd = coreStart + core.SectorCount; // exclusive
        if (firstPartitionStartLba is long first && coreEnd > first)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"GRUB's core image needs LBA {coreStart}..{coreEnd - 1} ({core.SectorCount} sectors) but the first partition starts at LBA {first}; " +
                $"start the first partition at LBA {coreEnd} or later (1 MiB alignment, LBA 2048, leaves room for {2048 - coreStart} sectors)");
        }
        if (disk.Length < coreEnd * sector)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"the disk is {disk.Length} bytes; GRUB's core image needs the first {coreEnd * sector} bytes");
        }

        var mbr = new byte[sector];
        disk.Position = 0;
        disk.ReadExactly(mbr);
        if (mbr[GrubBootSector.BootSignatureOffset] != 0x55 || mbr[GrubBootSector.BootSignatureOffset + 1] != 0xAA)
        {
            throw new ImageToolsException(ErrorKind.InvalidPartitionTable,
                "sector 0 of the disk has no 55 AA boot signature: write the MBR partition table before installing GRUB");
        }
        GrubBootSector.Install(bootImage, mbr, core.Lba);

        // Core first, MBR last: an interrupted install never leaves an MBR pointing at garbage.
        var padded = new byte[core.SectorCount * sector];
        core.Bytes.CopyTo(padded, 0);
        disk.Position = coreStart * sector;
        disk.Write(padded);
        disk.Position = 0;
        disk.Write(mbr);
        disk.Flush();
    }
}
