using ImageTools.Core.Boot;
using ImageTools.Core.Ext.Writer;
using ImageTools.Core.Sparse;

namespace ImageTools.Core.Imaging;

/// <summary>The stages of a build, in the order they run.</summary>
public enum BootableDiskStage
{
    /// <summary>Reading a directory or archive once to size the root filesystem (no size given).</summary>
    MeasuringRoot,
    /// <summary>Writing the root filesystem from a directory or archive.</summary>
    BuildingRoot,
    /// <summary>Copying (and decompressing) a root filesystem image into partition 1.</summary>
    CopyingRoot,
    /// <summary>Running a post-processing step on the root filesystem (<see cref="IRootFilesystemStep"/>).</summary>
    RootStep,
    /// <summary>Writing the boot partition.</summary>
    BuildingBootPartition,
    /// <summary>Writing the partition table, core.img and boot.img.</summary>
    InstallingGrub,
}

/// <summary>Where a build is, for progress displays.</summary>
/// <param name="Stage">The stage.</param>
/// <param name="What">The stage in words ("copying root.img.zst (zstd)", "scrubbing").</param>
/// <param name="Bytes">Bytes handled so far in this stage (file content, or image bytes copied).</param>
/// <param name="TotalBytes">The stage's total, when known.</param>
/// <param name="Entries">Files and directories handled so far (building stages).</param>
public readonly record struct BootableDiskProgress(BootableDiskStage Stage, string What, long Bytes, long? TotalBytes, long Entries);

/// <summary>One partition of the disk built.</summary>
/// <param name="Number">MBR entry number.</param>
/// <param name="Role">"root" or "boot".</param>
/// <param name="StartSector">First sector.</param>
/// <param name="SectorCount">Sectors.</param>
/// <param name="FilesystemType">"ext2", "ext3", "ext4".</param>
/// <param name="FilesystemBytes">The filesystem's size (it may be smaller than the partition).</param>
/// <param name="Uuid">The filesystem UUID.</param>
/// <param name="Label">The filesystem label ("" when none).</param>
public sealed record BuiltPartition(int Number, string Role, long StartSector, long SectorCount, string FilesystemType, long FilesystemBytes, string Uuid, string Label);

/// <summary>What <see cref="BootableDiskBuilder.Build"/> made.</summary>
public sealed record BootableDiskResult
{
    public required string OutputPath { get; init; }

    public required long DiskSizeBytes { get; init; }

    /// <summary>Whether the size was computed ("just large enough") rather than given.</summary>
    public required bool SizeWasComputed { get; init; }

    /// <summary>Bytes the output occupies on the host disk (st_blocks), when the OS tells.</summary>
    public long? AllocatedBytes { get; init; }

    /// <summary>The MBR disk signature (PARTUUID prefix).</summary>
    public required uint DiskSignature { get; init; }

    public required BootableDiskLayout Layout { get; init; }

    /// <summary>The partitions in disk order (boot first).</summary>
    public required IReadOnlyList<BuiltPartition> Partitions { get; init; }

    /// <summary>What ROOTIMAGE was.</summary>
    public required RootFilesystemInput Root { get; init; }

    /// <summary>For a directory or tar root: what the writer built.</summary>
    public ExtBuildResult? RootBuild { get; init; }

    /// <summary>For an image root: what the copy did.</summary>
    public CopyStatistics? RootCopy { get; init; }

    /// <summary>What the boot partition's writer built.</summary>
    public required ExtBuildResult BootBuild { get; init; }

    /// <summary>The core image installed in the gap after the MBR.</summary>
    public required GrubCoreImage CoreImage { get; init; }

    /// <summary>The GRUB platform directory used.</summary>
    public required string GrubDirectory { get; init; }

    /// <summary>How many GRUB module and list files went to the boot partition.</summary>
    public required int GrubFiles { get; init; }

    /// <summary>The menu entries, the default first.</summary>
    public required IReadOnlyList<GrubMenuEntry> BootEntries { get; init; }

    /// <summary>The grub.cfg written.</summary>
    public required string GrubConfig { get; init; }

    /// <summary>For each <see cref="IRootFilesystemStep"/>: its description and what it reported.</summary>
    public required IReadOnlyList<(string Step, IReadOnlyList<string> Report)> StepReports { get; init; }

    /// <summary>Things the user should know (a root whose journal needs recovery, dropped bytes after the filesystem...).</summary>
    public required IReadOnlyList<string> Warnings { get; init; }

    public required TimeSpan Elapsed { get; init; }
}
