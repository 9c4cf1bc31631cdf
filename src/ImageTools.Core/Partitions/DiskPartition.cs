using ImageTools.Core.Streams;

namespace ImageTools.Core.Partitions;

/// <summary>Which kind of partition table a disk carries.</summary>
public enum PartitionScheme
{
    /// <summary>A DOS/MBR table, with an extended partition's logical partitions if any.</summary>
    Mbr,

    /// <summary>A GUID partition table behind a protective (or hybrid) MBR.</summary>
    Gpt,
}

/// <summary>What a partition is within its table.</summary>
public enum PartitionKind
{
    /// <summary>An MBR primary partition (1-4).</summary>
    Primary,

    /// <summary>An MBR extended partition: a container of logical partitions, not a filesystem.</summary>
    Extended,

    /// <summary>An MBR logical partition (5, 6, ...).</summary>
    Logical,

    /// <summary>A GPT partition.</summary>
    Gpt,
}

/// <summary>
/// A partition of either scheme in the terms a user and a copier need: its number, where it is on the disk
/// (in sectors and bytes) and its type id and name as sfdisk shows them.
/// </summary>
public sealed record DiskPartition
{
    public required int Number { get; init; }

    public required PartitionKind Kind { get; init; }

    public required long StartSector { get; init; }

    public required long SectorCount { get; init; }

    public required int SectorSize { get; init; }

    /// <summary>MBR: status 0x80. GPT: the legacy BIOS bootable attribute (bit 2).</summary>
    public required bool IsBootable { get; init; }

    /// <summary>The type as sfdisk prints it: "83", "ef", or a GPT type GUID in upper case.</summary>
    public required string TypeId { get; init; }

    public required string TypeName { get; init; }

    public byte? MbrType { get; init; }

    public Guid? GptType { get; init; }

    /// <summary>The GPT unique partition GUID (Linux's PARTUUID); null on MBR disks.</summary>
    public Guid? UniqueGuid { get; init; }

    /// <summary>The GPT partition name; null on MBR disks.</summary>
    public string? Name { get; init; }

    public long EndSector => StartSector + SectorCount - 1;

    /// <summary>Byte offset of the partition on the disk.</summary>
    public long Offset => StartSector * SectorSize;

    /// <summary>Length of the partition in bytes.</summary>
    public long Length => SectorCount * SectorSize;

    /// <summary>Byte offset just past the partition's last byte.</summary>
    public long EndOffset => Offset + Length;

    public bool IsContainer => Kind == PartitionKind.Extended;

    public string Describe() => $"partition {Number} (sectors {StartSector}-{EndSector})";

    /// <summary>
    /// This partition of <paramref name="disk"/> as a stream of its own (named "<paramref name="diskName"/> partition N"):
    /// reads stop at its end; a write past it is refused before any byte is written. The disk stays open.
    /// </summary>
    public SubStream Open(Stream disk, bool writable = false, string? diskName = null) =>
        new(disk, Offset, Length, writable, ownsBase: false, name: $"{diskName ?? "disk"} partition {Number}");
}
