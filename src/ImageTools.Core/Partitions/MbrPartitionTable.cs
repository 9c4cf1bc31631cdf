namespace ImageTools.Core.Partitions;

/// <summary>An EBR and the sector it lives in.</summary>
public sealed record ExtendedBootRecordAt(long Sector, ExtendedBootRecord Record);

/// <summary>
/// A whole MBR partition table: the MBR, the chain of EBRs of its extended partition, and the partitions they
/// describe, numbered as Linux and sfdisk number them. Reading follows the chain defensively (a loop, an EBR
/// outside the disk or the extended partition, or an absurdly long chain is an error, never a hang); layout
/// problems that do not stop reading (overlaps, partitions past the end of the disk, zero-sized entries) are
/// reported by <see cref="FindProblems"/> and <see cref="Validate"/>, so a damaged table can still be listed.
/// </summary>
public sealed class MbrPartitionTable
{
    /// <summary>
    /// Longest EBR chain we follow. Linux gives up silently after 100 links (msdos.c) and sfdisk after 56
    /// logical partitions; a longer chain is damage or a trap, not a layout.
    /// </summary>
    public const int MaxExtendedBootRecords = 256;

    /// <summary>Number of the first logical partition (Linux, sfdisk).</summary>
    public const int FirstLogicalNumber = 5;

    private readonly List<MbrPartition> _partitions = new();
    private readonly List<string> _structureProblems = new();

    /// <param name="mbr">Sector 0.</param>
    /// <param name="extendedBootRecords">The EBR chain in link order (the first at the start of the extended partition).</param>
    /// <param name="diskSectors">The disk's size in sectors when known (a pipe or a device whose size was not asked).</param>
    /// <param name="sectorSize">Bytes per sector (512 for image files).</param>
    /// <param name="source">Names the disk in messages.</param>
    /// <param name="readProblems">Damage met while reading that did not stop it (a broken EBR chain read tolerantly).</param>
    public MbrPartitionTable(MasterBootRecord mbr, IReadOnlyList<ExtendedBootRecordAt> extendedBootRecords, long? diskSectors,
        int sectorSize = MasterBootRecord.Size, string source = "disk", IEnumerable<string>? readProblems = null)
    {
        DiskSectors.RequireSectorSize(sectorSize);
        Mbr = mbr;
        ExtendedBootRecords = extendedBootRecords.ToArray();
        DiskSizeInSectors = diskSectors;
        SectorSize = sectorSize;
        Source = source;

        for (var i = 0; i < MasterBootRecord.EntryCount; i++)
        {
            var entry = mbr.Entries[i];
            if (!entry.IsUsed)
            {
                continue;
            }
            var isFirstExtended = entry.IsExtended && ExtendedPartition == null;
            var partition = new MbrPartition
            {
                Number = i + 1,
                Kind = entry.IsExtended ? MbrPartitionKind.Extended : MbrPartitionKind.Primary,
                Entry = entry,
                StartSector = entry.StartLba,
                TableSector = 0,
                EntryIndex = i,
            };
            _partitions.Add(partition);
            if (isFirstExtended)
            {
                ExtendedPartition = partition;
            }
            else if (entry.IsExtended)
            {
                _structureProblems.Add(
                    $"partition {i + 1} is a second extended partition; only the logical partitions of partition " +
                    $"{ExtendedPartition!.Number} are read (as sfdisk does)");
            }
        }

        _structureProblems.AddRange(readProblems ?? []);
        var number = FirstLogicalNumber;
        foreach (var (sector, ebr) in ExtendedBootRecords)
        {
            if (ebr.LogicalEntry is { } logical)
            {
                _partitions.Add(new MbrPartition
                {
                    Number = number,
                    Kind = MbrPartitionKind.Logical,
                    Entry = logical,
                    StartSector = sector + logical.StartLba,
                    TableSector = sector,
                    EntryIndex = ebr.LogicalEntryIndex,
                });
                number++;
            }
            foreach (var extra in ebr.ExtraEntryIndexes)
            {
                _structureProblems.Add($"the EBR at sector {sector} has an extra used entry in slot {extra} ({ebr.Entries[extra]}); it is ignored");
            }
            for (var slot = 0; slot < ebr.Entries.Count; slot++)
            {
                var e = ebr.Entries[slot];
                if (!e.IsUsed && e.Type != MbrPartitionType.Empty)
                {
                    _structureProblems.Add(
                        $"the EBR at sector {sector} has an entry of type 0x{e.Type:x2} ({MbrPartitionType.NameOf(e.Type)}) with 0 sectors in slot {slot}");
                }
            }
        }
    }

    public MasterBootRecord Mbr { get; }

    public IReadOnlyList<ExtendedBootRecordAt> ExtendedBootRecords { get; }

    /// <summary>Used partitions in number order: primaries and the extended partition by slot, then logical ones.</summary>
    public IReadOnlyList<MbrPartition> Partitions => _partitions;

    /// <summary>The (first) extended partition, whose chain holds the logical partitions; null without one.</summary>
    public MbrPartition? ExtendedPartition { get; }

    public uint DiskSignature => Mbr.DiskSignature;

    /// <summary>The disk's size in sectors, when known.</summary>
    public long? DiskSizeInSectors { get; }

    public int SectorSize { get; }

    /// <summary>The disk's name in messages.</summary>
    public string Source { get; }

    /// <summary>
    /// A protective (or hybrid) MBR: an entry of type 0xEE says the real table is the GPT at sector 1.
    /// </summary>
    public bool HasGptProtectiveEntry => Mbr.Entries.Any(e => e.IsUsed && e.Type == MbrPartitionType.GptProtective);

    /// <summary>The partition numbered <paramref name="number"/>, or null.</summary>
    public MbrPartition? Find(int number) => _partitions.FirstOrDefault(p => p.Number == number);

    /// <summary>
    /// Reads the MBR and follows the EBR chain of the first extended partition.
    /// </summary>
    /// <param name="disk">A seekable stream over the whole disk.</param>
    /// <param name="diskSizeBytes">
    /// The disk's size; null takes the stream's length when it has one (a block device's stream does not: pass its size).
    /// </param>
    /// <param name="source">Names the disk in messages.</param>
    /// <param name="sectorSize">Bytes per sector (512 for image files).</param>
    /// <param name="tolerateBrokenChain">
    /// Stop following the EBR chain where it breaks (a loop, an EBR outside the disk or the extended partition, a
    /// missing signature) and report the break through <see cref="FindProblems"/> instead of throwing, so that
    /// the table can still be listed with the logical partitions read before the break.
    /// </param>
    public static MbrPartitionTable Read(Stream disk, long? diskSizeBytes = null, string source = "disk", int sectorSize = MasterBootRecord.Size,
        bool tolerateBrokenChain = false)
    {
        DiskSectors.RequireSeekable(disk, source);
        DiskSectors.RequireSectorSize(sectorSize);
        var diskSectors = DiskSizeInSectorsOf(disk, diskSizeBytes, sectorSize);
        var buffer = new byte[sectorSize];
        var got = DiskSectors.Read(disk, 0, sectorSize, buffer);
        var mbr = MasterBootRecord.Read(buffer.AsSpan(0, Math.Max(got, 0)), source);

        var ebrs = new List<ExtendedBootRecordAt>();
        var readProblems = new List<string>();
        var extendedSlot = Array.FindIndex(mbr.Entries.ToArray(), e => e.IsUsed && e.IsExtended);
        if (extendedSlot >= 0 && mbr.Entries[extendedSlot].StartLba != 0)
        {
            try
            {
                ReadChain(disk, mbr.Entries[extendedSlot], extendedSlot + 1, diskSectors, sectorSize, source, buffer, ebrs);
            }
            catch (ImageToolsException e) when (tolerateBrokenChain && e.Kind == ErrorKind.InvalidPartitionTable)
            {
                // The message already names the disk; the problem list names it once for all problems.
                var problem = e.Message.StartsWith(source + ": ", StringComparison.Ordinal) ? e.Message[(source.Length + 2)..] : e.Message;
                readProblems.Add($"{problem}; the logical partitions after that are not read");
            }
        }
        return new MbrPartitionTable(mbr, ebrs, diskSectors, sectorSize, source, readProblems);
    }

    private static void ReadChain(Stream disk, MbrPartitionEntry extended, int extendedNumber, long? diskSectors, int sectorSize,
        string source, byte[] buffer, List<ExtendedBootRecordAt> ebrs)
    {
        long extendedStart = extended.StartLba;
        var extendedEnd = extendedStart + extended.SectorCount - 1;
        var seen = new Dictionary<long, string>();
        var ebrSector = extendedStart;
        var nextNumber = FirstLogicalNumber;
        var linkedFrom = $"extended partition {extendedNumber}";
        while (true)
        {
            var what = $"{source}: EBR at sector {ebrSector} (for partition {nextNumber}, linked from {linkedFrom})";
            if (ebrs.Count >= MaxExtendedBootRecords)
            {
                throw Invalid(source,
                    $"{source}: the EBR chain of extended partition {extendedNumber} goes on past {MaxExtendedBootRecords} links " +
                    $"(next at sector {ebrSector}); no sane table has that many logical partitions");
            }
            if (seen.TryGetValue(ebrSector, out var earlier))
            {
                throw Invalid(source,
                    $"{source}: the EBR chain of extended partition {extendedNumber} loops: {linkedFrom} links to sector {ebrSector}, " +
                    $"already read as {earlier}");
            }
            if (diskSectors is { } total && ebrSector >= total)
            {
                throw Invalid(source, $"{what} lies past the end of the disk ({total} sectors)");
            }
            if (ebrSector < extendedStart || ebrSector > extendedEnd)
            {
                throw Invalid(source,
                    $"{what} lies outside extended partition {extendedNumber} (sectors {extendedStart}-{extendedEnd})");
            }
            var got = DiskSectors.Read(disk, ebrSector, sectorSize, buffer);
            if (got < MasterBootRecord.Size)
            {
                throw Invalid(source, $"{what} cannot be read: the image ends before it");
            }
            var ebr = ExtendedBootRecord.Read(buffer, what);
            ebrs.Add(new ExtendedBootRecordAt(ebrSector, ebr));
            var label = ebr.LogicalEntry != null ? $"the EBR of partition {nextNumber}" : "an EBR without a partition";
            seen[ebrSector] = label;
            if (ebr.LogicalEntry != null)
            {
                nextNumber++;
            }
            if (ebr.NextEntry is not { } link)
            {
                return;
            }
            linkedFrom = $"{label} at sector {ebrSector}";
            ebrSector = extendedStart + link.StartLba;
        }
    }

    private static ImageToolsException Invalid(string source, string message) =>
        new(ErrorKind.InvalidPartitionTable, message) { Path = source };

    internal static long? DiskSizeInSectorsOf(Stream disk, long? diskSizeBytes, int sectorSize)
    {
        if (diskSizeBytes is { } bytes)
        {
            return bytes / sectorSize;
        }
        try
        {
            var length = disk.Length;
            // A block device's FileStream reports 0: unknown, not empty.
            return length > 0 ? length / sectorSize : null;
        }
        catch (NotSupportedException)
        {
            return null;
        }
    }

    /// <summary>
    /// Everything wrong with the layout, each naming the partitions and sectors concerned: zero-sized entries,
    /// partitions on sector 0 or past the end of the disk, overlaps, logical partitions outside the extended
    /// partition or over an EBR, extra entries in EBRs. Empty for a sound table.
    /// </summary>
    public IReadOnlyList<string> FindProblems()
    {
        var problems = new List<string>(_structureProblems);
        for (var i = 0; i < MasterBootRecord.EntryCount; i++)
        {
            var e = Mbr.Entries[i];
            if (!e.IsUsed && e.Type != MbrPartitionType.Empty)
            {
                problems.Add($"partition {i + 1} has type 0x{e.Type:x2} ({MbrPartitionType.NameOf(e.Type)}) but 0 sectors");
            }
        }

        foreach (var p in _partitions)
        {
            if (p.StartSector == 0 || (p.Kind == MbrPartitionKind.Logical && p.StartSector == p.TableSector))
            {
                problems.Add(p.Kind == MbrPartitionKind.Logical
                    ? $"{p.Describe()} starts on its own EBR at sector {p.TableSector}"
                    : $"{p.Describe()} starts at sector 0, on the MBR itself");
            }
            if (DiskSizeInSectors is { } total && p.EndSector >= total)
            {
                problems.Add($"{p.Describe()} ends past the end of the disk (last sector {total - 1}, {total} sectors)");
            }
        }

        var primaries = _partitions.Where(p => p.Kind != MbrPartitionKind.Logical).ToList();
        AddOverlaps(primaries, problems);

        if (ExtendedPartition is { } extended)
        {
            var logicals = _partitions.Where(p => p.Kind == MbrPartitionKind.Logical).ToList();
            foreach (var l in logicals)
            {
                if (l.StartSector < extended.StartSector || l.EndSector > extended.EndSector)
                {
                    problems.Add($"logical {l.Describe()} is not entirely inside extended {extended.Describe()}");
                }
            }
            AddOverlaps(logicals, problems);
            foreach (var l in logicals)
            {
                foreach (var (sector, _) in ExtendedBootRecords)
                {
                    if (sector >= l.StartSector && sector <= l.EndSector && sector != l.TableSector)
                    {
                        var owner = logicals.FirstOrDefault(o => o.TableSector == sector);
                        problems.Add(owner != null
                            ? $"{l.Describe()} covers sector {sector}, the EBR of partition {owner.Number}"
                            : $"{l.Describe()} covers sector {sector}, an EBR of the chain");
                    }
                }
            }
        }
        return problems;
    }

    private static void AddOverlaps(List<MbrPartition> partitions, List<string> problems)
    {
        for (var i = 0; i < partitions.Count; i++)
        {
            for (var j = i + 1; j < partitions.Count; j++)
            {
                var a = partitions[i];
                var b = partitions[j];
                if (a.StartSector <= b.EndSector && b.StartSector <= a.EndSector)
                {
                    var from = Math.Max(a.StartSector, b.StartSector);
                    var to = Math.Min(a.EndSector, b.EndSector);
                    problems.Add($"{a.Describe()} and {b.Describe()} overlap on sectors {from}-{to}");
                }
            }
        }
    }

    /// <summary>Throws <see cref="ErrorKind.InvalidPartitionTable"/> listing every problem, if there is any.</summary>
    public void Validate()
    {
        var problems = FindProblems();
        if (problems.Count > 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidPartitionTable,
                $"{Source}: invalid MBR partition table: {string.Join("; ", problems)}") { Path = Source };
        }
    }

    /// <summary>
    /// Writes the MBR and every EBR of the chain to <paramref name="disk"/>. When <see cref="MasterBootRecord.BootCode"/>
    /// is null the boot code already on the disk (bytes 0..0x1B7 of sector 0) is kept.
    /// </summary>
    public void WriteTo(Stream disk)
    {
        if (!disk.CanSeek || !disk.CanWrite)
        {
            throw new ImageToolsException(ErrorKind.DestinationUnwritable, $"{Source}: writing a partition table needs a seekable, writable disk");
        }
        var sector = new byte[SectorSize];
        if (Mbr.BootCode == null && disk.CanRead)
        {
            DiskSectors.Read(disk, 0, SectorSize, sector);
        }
        Mbr.Write(sector);
        DiskSectors.Write(disk, 0, SectorSize, sector);
        foreach (var (lba, ebr) in ExtendedBootRecords)
        {
            Array.Clear(sector);
            ebr.Write(sector);
            DiskSectors.Write(disk, lba, SectorSize, sector);
        }
        disk.Flush();
    }
}
