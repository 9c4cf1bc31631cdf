namespace ImageTools.Core.Imaging;

/// <summary>What <see cref="ImageInspector"/> found in an image file.</summary>
public sealed class ImageReport
{
    /// <summary>The path as given.</summary>
    public required string Path { get; init; }

    /// <summary>Size of the file (or device) in bytes.</summary>
    public required long SizeBytes { get; init; }

    /// <summary>Set when the file is compressed; <see cref="Content"/> then describes what it decompresses to.</summary>
    public CompressionReport? Compression { get; init; }

    /// <summary>What the (decompressed) bytes are.</summary>
    public required ContentReport Content { get; init; }
}

/// <summary>A compressed image: the format, and how big it is once decompressed.</summary>
public sealed record CompressionReport(string Format, long CompressedBytes, long UncompressedBytes);

/// <summary>
/// What a run of bytes (a whole image, or one partition) holds. A hybrid image matches several formats
/// (an ISO with an MBR in its system area): each one found is reported.
/// </summary>
public sealed class ContentReport
{
    /// <summary>The formats found, in the order they were probed ("iso9660", "mbr", "gpt", "ext4", ...); empty when none.</summary>
    public List<string> Formats { get; } = new();

    public PartitionTableReport? PartitionTable { get; set; }

    public ExtReport? Ext { get; set; }

    public IsoReport? Iso { get; set; }

    /// <summary>Set when nothing readable was recognised: the first bytes and what they mean, where known.</summary>
    public UnrecognisedReport? Unrecognised { get; set; }

    /// <summary>Something recognised but not read by this tool (an XFS filesystem, swap, LUKS...).</summary>
    public string? OtherFormat { get; set; }

    public List<string> Warnings { get; } = new();
}

/// <summary>A partition table and what each partition holds.</summary>
public sealed class PartitionTableReport
{
    /// <summary>"MBR" or "GPT".</summary>
    public required string Scheme { get; init; }

    /// <summary>As sfdisk prints it: "0x1234abcd" or the disk GUID.</summary>
    public required string DiskIdentifier { get; init; }

    public required int SectorSize { get; init; }

    public List<PartitionReport> Partitions { get; } = new();

    /// <summary>Layout problems (overlaps, partitions past the end of the image...).</summary>
    public List<string> Problems { get; } = new();
}

public sealed class PartitionReport
{
    public required int Number { get; init; }

    /// <summary>"primary", "extended", "logical" or "gpt".</summary>
    public required string Kind { get; init; }

    public required long StartSector { get; init; }

    public required long SectorCount { get; init; }

    public required long SizeBytes { get; init; }

    /// <summary>"83" for MBR, a GUID for GPT.</summary>
    public required string TypeId { get; init; }

    public required string TypeName { get; init; }

    public required bool Bootable { get; init; }

    public string? Name { get; init; }

    public string? Uuid { get; init; }

    /// <summary>What the partition holds; null for an extended container.</summary>
    public ContentReport? Content { get; set; }
}

/// <summary>The facts of an ext2/3/4 filesystem, as dumpe2fs -h reports them, plus the kernels it holds.</summary>
public sealed class ExtReport
{
    /// <summary>"ext2", "ext3", "ext4" (or "jbd" for an external journal device).</summary>
    public required string Type { get; init; }

    public required IReadOnlyList<string> Features { get; init; }

    public required int BlockSize { get; init; }

    public required ulong BlockCount { get; init; }

    public required ulong FreeBlocks { get; init; }

    public required ulong ReservedBlocks { get; init; }

    public required uint InodeCount { get; init; }

    public required uint FreeInodes { get; init; }

    public ulong SizeBytes => BlockCount * (ulong)BlockSize;

    /// <summary>Bytes in use (everything not free, metadata included), as df counts them.</summary>
    public ulong UsedBytes => (BlockCount - Math.Min(FreeBlocks, BlockCount)) * (ulong)BlockSize;

    public ulong FreeBytes => Math.Min(FreeBlocks, BlockCount) * (ulong)BlockSize;

    /// <summary>Free bytes an unprivileged user may still use (free minus the root reserve).</summary>
    public ulong AvailableBytes => (Math.Min(FreeBlocks, BlockCount) - Math.Min(ReservedBlocks, Math.Min(FreeBlocks, BlockCount))) * (ulong)BlockSize;

    /// <summary>The volume label; empty when there is none.</summary>
    public required string Label { get; init; }

    /// <summary>Lower case, with dashes, as blkid prints it.</summary>
    public required string Uuid { get; init; }

    /// <summary>Where it was last mounted; empty when never.</summary>
    public required string LastMountedOn { get; init; }

    /// <summary>Null when never mounted (s_mtime 0).</summary>
    public DateTimeOffset? LastMountTime { get; init; }

    public DateTimeOffset? LastWriteTime { get; init; }

    public DateTimeOffset? CreatedTime { get; init; }

    /// <summary>"clean", "not clean", "clean with errors" or "not clean with errors", as dumpe2fs says it.</summary>
    public required string State { get; init; }

    /// <summary>Whether its journal needs recovery (it was not cleanly unmounted).</summary>
    public required bool NeedsRecovery { get; init; }

    /// <summary>Why the files could not be listed, when they could not (an unsupported feature, damage).</summary>
    public string? FilesUnreadable { get; set; }

    public List<BootFileReport> Kernels { get; } = new();

    public List<BootFileReport> Initrds { get; } = new();

    /// <summary>The GRUB menu the filesystem holds (/boot/grub/grub.cfg, or /grub/grub.cfg on a separate /boot), if any.</summary>
    public BootMenuReport? BootMenu { get; set; }

    public List<string> Warnings { get; } = new();
}

/// <summary>A GRUB menu found in a filesystem: where, its settings, and what each entry boots.</summary>
public sealed class BootMenuReport
{
    /// <summary>The grub.cfg's path inside the filesystem.</summary>
    public required string Path { get; init; }

    /// <summary>The <c>set default=</c> value, as written.</summary>
    public string? Default { get; init; }

    /// <summary>The <c>set timeout=</c> value, as written.</summary>
    public string? Timeout { get; init; }

    public List<BootMenuEntryReport> Entries { get; } = new();
}

/// <summary>One menu entry, and where its kernel is read from.</summary>
public sealed class BootMenuEntryReport
{
    public required Boot.GrubConfigEntry Entry { get; init; }

    /// <summary>
    /// Where GRUB reads the kernel from, in words: "this filesystem", or for an entry that searches a
    /// filesystem by UUID, the partition of the same disk holding it ("partition 1"), once known.
    /// </summary>
    public string? KernelFrom { get; set; }
}

/// <summary>A kernel or initrd found in a filesystem.</summary>
/// <param name="Path">Where it is (absolute inside the filesystem).</param>
/// <param name="Version">The version the file name says (e.g. "6.1.0-18-amd64"), or null.</param>
/// <param name="SizeBytes">Size of the file (of its target, for a symbolic link).</param>
/// <param name="LinkTarget">For a symbolic link (/vmlinuz): what it points to.</param>
/// <param name="HeaderVersion">For an x86 kernel: the version string in its boot header.</param>
public sealed record BootFileReport(string Path, string? Version, long SizeBytes, string? LinkTarget, string? HeaderVersion);

/// <summary>An ISO 9660 image.</summary>
public sealed class IsoReport
{
    public required string VolumeIdentifier { get; init; }

    public required string SystemIdentifier { get; init; }

    public required string ApplicationIdentifier { get; init; }

    public required long SizeBytes { get; init; }

    public required int LogicalBlockSize { get; init; }

    public DateTimeOffset? CreationTime { get; init; }

    /// <summary>Whether an El Torito boot catalog holds at least one bootable entry.</summary>
    public bool Bootable => BootEntries.Any(e => e.Bootable);

    public List<IsoBootEntryReport> BootEntries { get; } = new();

    /// <summary>Whether the volume descriptors also hold a Joliet (supplementary) descriptor.</summary>
    public bool Joliet { get; set; }

    /// <summary>What a user must know about using it as a VM disk.</summary>
    public string Note => "an ISO 9660 image is attached to a virtual machine as a CD/DVD drive, not as a disk; "
        + "cloud platforms that import disk images will not boot it as one";
}

/// <summary>One El Torito boot entry: "x86 BIOS, no emulation, 4 sectors at 34".</summary>
public sealed record IsoBootEntryReport(string Platform, bool Bootable, string Emulation, int LoadSectors, uint LoadRba);

/// <summary>Bytes nothing here reads: the first of them, and what they mean when a signature is known.</summary>
public sealed record UnrecognisedReport(string FirstBytesHex, string? Meaning);
