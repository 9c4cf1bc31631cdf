using System.Globalization;
using ImageTools.TestSupport;

namespace ImageTools.Boot.Tests.Harness;

/// <summary>What the scaffold disk holds: a boot partition and a root partition, each made from a folder.</summary>
public sealed record ScaffoldDiskSpec
{
    /// <summary>Folder copied into the boot partition (ext2), e.g. holding boot/grub.</summary>
    public required string BootTree { get; init; }

    /// <summary>Folder copied into the root partition.</summary>
    public required string RootTree { get; init; }

    /// <summary>The root filesystem's UUID (what root=UUID= names).</summary>
    public required Guid RootUuid { get; init; }

    /// <summary>mke2fs -t for the root partition: ext2, ext3 or ext4.</summary>
    public string RootFsType { get; init; } = "ext3";

    /// <summary>MBR slot of the root partition. The layout: entry 1, last on the disk.</summary>
    public int RootPartitionNumber { get; init; } = 1;

    /// <summary>MBR slot of the boot partition; it comes first on the disk, at 1 MiB.</summary>
    public int BootPartitionNumber { get; init; } = 2;

    /// <summary>The MBR disk signature (u32 at 0x1B8).</summary>
    public uint DiskSignature { get; init; } = 0x494D4754;
}

/// <summary>
/// A disk image made with the reference tools only, as scaffolding until our own writers exist:
/// sfdisk writes the MBR partition table, <c>mke2fs -d</c> makes each filesystem from a folder, dd
/// (conv=notrunc,sparse) puts them into the partitions. The boot partition starts at LBA 2048 (1 MiB
/// alignment leaves LBA 1..2047 for GRUB's core image), the root partition follows it and ends the disk.
/// Nothing of GRUB is installed here.
/// </summary>
public sealed record ScaffoldDisk(string Path, long BootStartLba, long BootSectors, long RootStartLba, long RootSectors, ScaffoldDiskSpec Spec)
{
    private const long MiB = 1 << 20;
    private const int Sector = 512;

    /// <summary>The lowest start LBA of any partition: GRUB's core image must end before it.</summary>
    public long FirstPartitionStartLba => Math.Min(BootStartLba, RootStartLba);

    public static ScaffoldDisk Build(string path, ScaffoldDiskSpec spec)
    {
        if (char.IsAsciiDigit(path[^1]))
        {
            // sfdisk takes the partition number from the end of "<name>N" lines.
            throw new ArgumentException("the disk image's name must not end with a digit", nameof(path));
        }
        ExternalTools.Require("sfdisk");
        var mke2fs = ExternalTools.Require("mke2fs");
        ExternalTools.Require("dd");

        long bootMiB = SizeFor(spec.BootTree);
        long rootMiB = SizeFor(spec.RootTree);
        long bootStart = MiB / Sector;
        long bootSectors = bootMiB * MiB / Sector;
        long rootStart = bootStart + bootSectors;
        long rootSectors = rootMiB * MiB / Sector;

        var bootImage = path + ".boot-partition";
        var rootImage = path + ".root-partition";
        try
        {
            Run(mke2fs, "-q", "-F", "-t", "ext2", "-L", "boot", "-d", spec.BootTree, bootImage, bootMiB + "M");
            Run(mke2fs, "-q", "-F", "-t", spec.RootFsType, "-L", "root", "-U", spec.RootUuid.ToString(), "-d", spec.RootTree, rootImage, rootMiB + "M");

            using (var f = File.Create(path))
            {
                f.SetLength((rootStart + rootSectors) * Sector);
            }
            var table =
                "label: dos\n" +
                $"label-id: 0x{spec.DiskSignature:x8}\n" +
                "unit: sectors\n\n" +
                $"{System.IO.Path.GetFileName(path)}{spec.RootPartitionNumber} : start={rootStart}, size={rootSectors}, type=83\n" +
                $"{System.IO.Path.GetFileName(path)}{spec.BootPartitionNumber} : start={bootStart}, size={bootSectors}, type=83, bootable\n";
            Sfdisk.Apply(path, table);
            CopyInto(bootImage, path, bootStart);
            CopyInto(rootImage, path, rootStart);
        }
        finally
        {
            File.Delete(bootImage);
            File.Delete(rootImage);
        }
        return new ScaffoldDisk(path, bootStart, bootSectors, rootStart, rootSectors, spec);
    }

    /// <summary>The folder's size with room for metadata and the journal, in whole MiB.</summary>
    private static long SizeFor(string tree)
    {
        long bytes = Directory.EnumerateFiles(tree, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(f => new FileInfo(f))
            .Where(f => f.LinkTarget == null)
            .Sum(f => (f.Length + 4095) / 4096 * 4096);
        return (long)Math.Ceiling(bytes * 1.15 / MiB) + 8;
    }

    private static void CopyInto(string partitionImage, string disk, long startLba)
    {
        if (startLba * Sector % MiB != 0)
        {
            throw new ArgumentException("partitions start on MiB boundaries here");
        }
        Run("dd", $"if={partitionImage}", $"of={disk}", "bs=1M", $"seek={(startLba * Sector / MiB).ToString(CultureInfo.InvariantCulture)}", "conv=notrunc,sparse", "status=none");
    }

    private static void Run(string program, params string[] args)
    {
        var r = ProcessRunner.Run(program, args);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed: {r}");
        }
    }
}
