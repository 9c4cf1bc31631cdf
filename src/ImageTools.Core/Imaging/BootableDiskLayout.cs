using ImageTools.Core.Partitions;

namespace ImageTools.Core.Imaging;

/// <summary>
/// Where everything goes on a disk fsmaker builds (docs/architecture.md, "The bootable disk"):
/// <code>
/// LBA 0                    MBR: GRUB's boot.img code, disk signature, partition table
/// LBA 1 ..                 GRUB's core image, in the gap before the first partition
/// 1 MiB                    partition 2: the boot partition (ext2: GRUB's modules, grub.cfg, -k/-i kernel and initrd)
/// after it, 1 MiB aligned  partition 1: the root filesystem, to the end of the disk
/// </code>
/// The root filesystem is MBR entry 1, so <c>root=/dev/sda1</c> and <c>/dev/vda1</c> name it, and it is last on the
/// disk, so that growing the disk image and then the partition (growpart, cloud-init) grows the root filesystem.
/// The table's entries are therefore not in disk order; sfdisk says so, and nothing depends on that order
/// (the kernel, GRUB and sfdisk address partitions by entry number and read start and size from the entry).
/// </summary>
public sealed record BootableDiskLayout
{
    public const int SectorSize = MasterBootRecord.Size;

    /// <summary>Partitions start on 1 MiB boundaries (what sfdisk and every partitioning tool does), which leaves GRUB 2047 sectors for its core image.</summary>
    public const long Alignment = 1 << 20;

    /// <summary>MBR entry of the root filesystem.</summary>
    public const int RootPartitionNumber = 1;

    /// <summary>MBR entry of the boot partition.</summary>
    public const int BootPartitionNumber = 2;

    /// <summary>An MBR entry's start and size are 32-bit sector counts: no partition may end past 2 TiB.</summary>
    public const long MaximumDiskBytes = (long)uint.MaxValue * SectorSize;

    public required long DiskSizeBytes { get; init; }

    public required long BootPartitionOffset { get; init; }

    public required long BootPartitionLength { get; init; }

    public required long RootPartitionOffset { get; init; }

    public required long RootPartitionLength { get; init; }

    public long BootPartitionEnd => BootPartitionOffset + BootPartitionLength;

    public long RootPartitionEnd => RootPartitionOffset + RootPartitionLength;

    /// <summary>Rounds up to the 1 MiB grain.</summary>
    public static long AlignUp(long bytes) => (bytes + Alignment - 1) / Alignment * Alignment;

    /// <summary>Where the root partition starts for a boot partition of <paramref name="bootPartitionBytes"/>.</summary>
    public static long RootOffsetFor(long bootPartitionBytes) => AlignUp(Alignment + AlignUp(bootPartitionBytes));

    /// <summary>
    /// Places the partitions. The boot partition takes <paramref name="bootPartitionBytes"/> rounded up to a MiB at 1 MiB;
    /// the root partition starts right after it and runs to the end of the disk.
    /// </summary>
    /// <param name="bootPartitionBytes">The boot filesystem's size.</param>
    /// <param name="rootMinimumBytes">The least the root partition must hold (the root filesystem's size).</param>
    /// <param name="requestedDiskBytes">The user's <c>--size</c>, or null for "just large enough, rounded up to a MiB".</param>
    /// <param name="output">Names the output in messages.</param>
    public static BootableDiskLayout Plan(long bootPartitionBytes, long rootMinimumBytes, long? requestedDiskBytes, string output)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bootPartitionBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rootMinimumBytes);
        var bootLength = AlignUp(bootPartitionBytes);
        var rootOffset = RootOffsetFor(bootPartitionBytes);
        var minimum = MinimumDiskBytes(bootPartitionBytes, rootMinimumBytes);
        long disk;
        if (requestedDiskBytes is { } requested)
        {
            if (requested < minimum)
            {
                throw new ImageToolsException(ErrorKind.DoesNotFit,
                    $"{output}: a disk of {Describe(requested)} is too small: GRUB and the boot partition take the first {Describe(rootOffset)} " +
                    $"and the root filesystem needs {Describe(rootMinimumBytes)} after them, so the disk must be at least {Describe(minimum)} " +
                    $"(-s {(minimum % Alignment == 0 ? $"{minimum / Alignment}M" : minimum.ToString(System.Globalization.CultureInfo.InvariantCulture))})") { Path = output };
            }
            disk = requested;
        }
        else
        {
            disk = AlignUp(minimum);
        }
        if (disk > MaximumDiskBytes)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"{output}: a disk of {Describe(disk)} is past what an MBR partition table addresses ({Describe(MaximumDiskBytes)}, 2^32 sectors)") { Path = output };
        }
        // The root partition ends at the last whole sector of the disk.
        var rootLength = disk / SectorSize * SectorSize - rootOffset;
        return new BootableDiskLayout
        {
            DiskSizeBytes = disk,
            BootPartitionOffset = Alignment,
            BootPartitionLength = bootLength,
            RootPartitionOffset = rootOffset,
            RootPartitionLength = rootLength,
        };
    }

    /// <summary>The smallest disk that holds a boot partition and a root filesystem of these sizes.</summary>
    public static long MinimumDiskBytes(long bootPartitionBytes, long rootBytes) =>
        RootOffsetFor(bootPartitionBytes) + (rootBytes + SectorSize - 1) / SectorSize * SectorSize;

    /// <summary>
    /// The partition table: entry 1 the root partition (type 83), entry 2 the boot partition (type 83, active:
    /// some BIOSes boot a disk only when one entry is active; GRUB itself ignores the flag).
    /// </summary>
    public MbrPartitionTable BuildTable(uint diskSignature) =>
        new MbrPartitionTableBuilder(DiskSizeBytes)
            .WithDiskSignature(diskSignature)
            .AddPrimary(MbrPartitionType.Linux, sizeSectors: RootPartitionLength / SectorSize, startSector: RootPartitionOffset / SectorSize)
            .AddPrimary(MbrPartitionType.Linux, sizeSectors: BootPartitionLength / SectorSize, startSector: BootPartitionOffset / SectorSize, bootable: true)
            .Build();

    private static string Describe(long bytes) =>
        bytes % Alignment == 0
            ? $"{bytes / Alignment} MiB"
            : $"{bytes} bytes ({ImageReportFormatter.Size(bytes)})";
}
