namespace ImageTools.Core.Partitions;

/// <summary>One 16-byte entry to replace: slot <see cref="EntryIndex"/> of the MBR (sector 0) or of the EBR at <see cref="Sector"/>.</summary>
public sealed record MbrEntryPatch(long Sector, int EntryIndex, MbrPartitionEntry Entry);

/// <summary>
/// How to make the last partition of an MBR disk (by position on the disk) reach a new end sector, for a disk
/// copied to a larger one: the entries to rewrite and what they describe. Only the table changes; the file
/// system inside keeps its size until it is grown (resize2fs).
/// <para>A primary partition needs only its MBR entry. A logical partition needs three: its own entry in its EBR,
/// the extended partition's entry in the MBR (the container must reach the new end too), and the link in the
/// previous EBR, whose size by convention (sfdisk, fdisk) spans the next EBR through the end of its logical
/// partition. Start sectors and start CHS never change; the end CHS is recomputed as sfdisk writes it.</para>
/// </summary>
public sealed record MbrPartitionGrowth
{
    /// <summary>The partition that grows (a logical one, a primary one, or the extended one when it has no logical partition).</summary>
    public required int PartitionNumber { get; init; }

    public required long StartSector { get; init; }

    public required long OldEndSector { get; init; }

    public required long NewEndSector { get; init; }

    /// <summary>The extended partition that grows with a logical partition, or null.</summary>
    public int? ExtendedPartitionNumber { get; init; }

    /// <summary>True when the MBR's 32-bit size field stopped the growth before the end of the disk (disks over 2 TiB).</summary>
    public bool LimitedByMbr { get; init; }

    /// <summary>The entries to rewrite, in the MBR and EBR sectors named.</summary>
    public required IReadOnlyList<MbrEntryPatch> Patches { get; init; }

    public long OldSectorCount => OldEndSector - StartSector + 1;

    public long NewSectorCount => NewEndSector - StartSector + 1;

    /// <summary>
    /// Plans the growth of <paramref name="table"/>'s last partition to the last sector of a disk of
    /// <paramref name="newDiskSectors"/> sectors; null when it already reaches that far (nothing to do).
    /// Throws <see cref="ErrorKind.InvalidPartitionTable"/> for a table with problems (growing a damaged layout
    /// would make it worse) and <see cref="ErrorKind.InvalidArgument"/> for a disk without partitions.
    /// </summary>
    public static MbrPartitionGrowth? Plan(MbrPartitionTable table, long newDiskSectors, DiskGeometry? geometry = null)
    {
        var chs = geometry ?? DiskGeometry.Lba;
        table.Validate();
        if (table.Partitions.Count == 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"{table.Source}: the partition table has no partition to grow") { Path = table.Source };
        }

        var extended = table.ExtendedPartition;
        var data = table.Partitions.Where(p => p.Kind != MbrPartitionKind.Extended).ToList();
        var lastData = data.OrderByDescending(p => p.EndSector).FirstOrDefault();
        MbrPartition target;
        if (extended != null && (lastData == null || extended.EndSector > lastData.EndSector || lastData.Kind == MbrPartitionKind.Logical))
        {
            // The extended partition is last on the disk: grow its last logical partition with it (or the
            // container alone when it holds none). A primary cannot lie after a logical one without overlapping
            // the container, which Validate has ruled out.
            target = data.Where(p => p.Kind == MbrPartitionKind.Logical).OrderByDescending(p => p.EndSector).FirstOrDefault() ?? extended;
        }
        else
        {
            target = lastData!;
        }

        var wanted = newDiskSectors - 1;
        // Every size field is 32 bits: a partition (and the container) holds at most 2^32 - 1 sectors.
        var limit = target.StartSector + uint.MaxValue - 1;
        if (target.Kind == MbrPartitionKind.Logical)
        {
            limit = Math.Min(limit, extended!.StartSector + uint.MaxValue - 1);
        }
        var newEnd = Math.Min(wanted, limit);
        if (newEnd <= target.EndSector)
        {
            return null;
        }

        var patches = new List<MbrEntryPatch>
        {
            new(target.TableSector, target.EntryIndex, Resized(target.Entry, newEnd - target.StartSector + 1, newEnd, chs)),
        };
        int? extendedNumber = null;
        if (target.Kind == MbrPartitionKind.Logical)
        {
            extendedNumber = extended!.Number;
            patches.Add(new MbrEntryPatch(0, extended.EntryIndex, Resized(extended.Entry, newEnd - extended.StartSector + 1, newEnd, chs)));
            var chain = table.ExtendedBootRecords;
            var at = chain.ToList().FindIndex(e => e.Sector == target.TableSector);
            if (at > 0 && chain[at - 1].Record.NextEntry is { } link)
            {
                patches.Add(new MbrEntryPatch(chain[at - 1].Sector, chain[at - 1].Record.NextEntryIndex,
                    Resized(link, newEnd - target.TableSector + 1, newEnd, chs)));
            }
        }
        return new MbrPartitionGrowth
        {
            PartitionNumber = target.Number,
            StartSector = target.StartSector,
            OldEndSector = target.EndSector,
            NewEndSector = newEnd,
            ExtendedPartitionNumber = extendedNumber,
            LimitedByMbr = newEnd < wanted,
            Patches = patches,
        };
    }

    private static MbrPartitionEntry Resized(MbrPartitionEntry entry, long sectorCount, long absoluteEnd, DiskGeometry geometry) =>
        entry with
        {
            SectorCount = checked((uint)sectorCount),
            LastChs = ChsAddress.FromLba(absoluteEnd, geometry),
        };

    /// <summary>
    /// Applies the patches for <paramref name="sector"/> to its bytes (as read from the disk), leaving every other
    /// byte as it was: boot code, disk signature, unused entries. Returns false when no patch concerns it.
    /// </summary>
    public bool Apply(long sector, Span<byte> bytes)
    {
        var any = false;
        foreach (var patch in Patches.Where(p => p.Sector == sector))
        {
            patch.Entry.Write(bytes[MasterBootRecord.EntryOffset(patch.EntryIndex)..]);
            any = true;
        }
        return any;
    }

    /// <summary>The sectors whose entries change.</summary>
    public IEnumerable<long> Sectors => Patches.Select(p => p.Sector).Distinct();
}
