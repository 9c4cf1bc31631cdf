namespace ImageTools.Core.Partitions;

/// <summary>What an MBR partition is: one of the four primaries, the extended container, or a logical one.</summary>
public enum MbrPartitionKind
{
    Primary,
    Extended,
    Logical,
}

/// <summary>
/// A partition of an MBR disk in absolute terms: numbered as Linux and sfdisk number them (primaries and the
/// extended partition 1-4 by slot, logical partitions 5, 6, ... in chain order), with its absolute start and
/// the on-disk entry it comes from.
/// </summary>
public sealed record MbrPartition
{
    public required int Number { get; init; }

    public required MbrPartitionKind Kind { get; init; }

    /// <summary>The entry as stored (its LBA field may be relative; <see cref="StartSector"/> is absolute).</summary>
    public required MbrPartitionEntry Entry { get; init; }

    /// <summary>Absolute first sector.</summary>
    public required long StartSector { get; init; }

    /// <summary>The sector holding the entry: 0 for the MBR, else the EBR's sector.</summary>
    public required long TableSector { get; init; }

    /// <summary>Slot of the entry in its table sector (0..3).</summary>
    public required int EntryIndex { get; init; }

    public long SectorCount => Entry.SectorCount;

    /// <summary>Absolute last sector (inclusive), as sfdisk's "End" column.</summary>
    public long EndSector => StartSector + SectorCount - 1;

    public byte Type => Entry.Type;

    public bool IsBootable => Entry.IsBootable;

    public string TypeName => MbrPartitionType.NameOf(Type);

    /// <summary>"partition 5 (sectors 24576-34815)": how messages name a partition.</summary>
    public string Describe() => $"partition {Number} (sectors {StartSector}-{EndSector})";

    public override string ToString() =>
        $"{Number}: {Kind} {StartSector}-{EndSector} ({SectorCount} sectors) type {MbrPartitionType.IdOf(Type)} {TypeName}{(IsBootable ? " bootable" : "")}";
}
