using ImageTools.Core.Partitions;

namespace ImageTools.Core.Boot;

/// <summary>
/// Installs GRUB onto a disk image the way grub-bios-setup does for an MBR disk, without Reed-Solomon
/// codes: core.img into the gap after the MBR (from its LBA, 1 by default), then boot.img into the
/// MBR's code area, pointing at it. The disk's partition table must already be in sector 0; the gap
/// ends at the lowest start of its partitions, whichever slots they are in.
/// </summary>
public static class GrubDiskInstaller
{
    /// <summary>
    /// Writes <paramref name="core"/> at its LBA and patches sector 0 of <paramref name="disk"/>
    /// (seekable, readable and writable). The partition table already in sector 0 is read
    /// (<see cref="MasterBootRecord"/>) and kept; the core image must end before its first partition.
    /// </summary>
    /// <param name="disk">The whole disk.</param>
    /// <param name="bootImage">boot.img (<see cref="GrubPlatformDirectory.BootImage"/>).</param>
    /// <param name="core">The core image, built for the LBA it is written at.</param>
    /// <param name="source">Names the disk in error messages.</param>
    /// <returns>Where the core image went and the partition it had to end before.</returns>
    public static GrubInstallation Install(Stream disk, ReadOnlySpan<byte> bootImage, GrubCoreImage core, string source = "disk")
    {
        if (!disk.CanSeek || !disk.CanRead || !disk.CanWrite)
        {
            throw new ArgumentException("installing GRUB needs a seekable, readable and writable disk stream", nameof(disk));
        }
        const int sector = I386PcLayout.SectorSize;
        var mbr = new byte[sector];
        disk.Position = 0;
        disk.ReadExactly(mbr);
        // The same checks GRUB's part_msdos makes at boot: 55 AA, status bytes 0x00 or 0x80.
        var table = MasterBootRecord.Read(mbr, source);
        if (table.Entries.Any(e => e.Type == MbrPartitionType.GptProtective))
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{source} has a GPT (protective MBR entry of type 0xEE): GRUB for BIOS would need a BIOS boot partition there; only MBR disks are supported") { Path = source };
        }
        var used = table.Entries.Where(e => e.IsUsed).ToList();
        long? firstPartition = used.Count == 0 ? null : used.Min(e => (long)e.StartLba);

        long coreStart = checked((long)core.Lba);
        long coreEnd = coreStart + core.SectorCount; // exclusive
        if (firstPartition is long first && coreEnd > first)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"{source}: GRUB's core image needs LBA {coreStart}..{coreEnd - 1} ({core.SectorCount} sectors) but the first partition starts at LBA {first}; " +
                $"start the first partition at LBA {coreEnd} or later (1 MiB alignment, LBA 2048, leaves room for {2048 - coreStart} sectors)") { Path = source };
        }
        if (disk.Length < coreEnd * sector)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"{source} is {disk.Length} bytes; GRUB's core image needs the first {coreEnd * sector} bytes") { Path = source };
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
        return new GrubInstallation(core.Lba, core.SectorCount, firstPartition);
    }
}

/// <summary>What <see cref="GrubDiskInstaller.Install"/> wrote.</summary>
/// <param name="CoreImageLba">The LBA of core.img's first sector, as the boot sector records it.</param>
/// <param name="CoreImageSectors">Sectors written from there (the last one zero-filled).</param>
/// <param name="FirstPartitionStartLba">The lowest start LBA of the disk's partitions, or null when it has none.</param>
public sealed record GrubInstallation(ulong CoreImageLba, int CoreImageSectors, long? FirstPartitionStartLba);
