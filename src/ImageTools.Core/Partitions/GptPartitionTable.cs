using System.IO.Hashing;

namespace ImageTools.Core.Partitions;

/// <summary>A used GPT entry with its number (entry index + 1, as Linux and sfdisk number them).</summary>
public sealed record GptPartition(int Number, GptPartitionEntry Entry)
{
    public long StartSector => (long)Entry.StartingLba;

    public long EndSector => (long)Entry.EndingLba;

    public long SectorCount => EndSector - StartSector + 1;

    public string TypeName => GptPartitionType.NameOf(Entry.TypeGuid);

    public string Describe() => $"partition {Number} (sectors {StartSector}-{EndSector})";
}

/// <summary>
/// The GUID partition table of a disk whose MBR is protective (type 0xEE): the header at LBA 1 (or, when that
/// one is damaged, the backup in the last sector) and its entry array, both CRC-checked.
/// </summary>
public sealed class GptPartitionTable
{
    private readonly List<string> _problems = new();

    private GptPartitionTable(GptHeader header, IReadOnlyList<GptPartition> partitions, long? diskSectors, int sectorSize, string source)
    {
        Header = header;
        Partitions = partitions;
        DiskSizeInSectors = diskSectors;
        SectorSize = sectorSize;
        Source = source;
    }

    /// <summary>The header in use (the primary one unless it was damaged).</summary>
    public GptHeader Header { get; }

    public Guid DiskGuid => Header.DiskGuid;

    /// <summary>Used entries, in entry order.</summary>
    public IReadOnlyList<GptPartition> Partitions { get; }

    public long? DiskSizeInSectors { get; }

    public int SectorSize { get; }

    public string Source { get; }

    /// <summary>True when the primary header or its entries were damaged and the backup was read instead.</summary>
    public bool UsesBackupHeader => Header.MyLba != 1;

    public static GptPartitionTable Read(Stream disk, long? diskSizeBytes = null, string source = "disk", int sectorSize = MasterBootRecord.Size)
    {
        DiskSectors.RequireSeekable(disk, source);
        DiskSectors.RequireSectorSize(sectorSize);
        var diskSectors = MbrPartitionTable.DiskSizeInSectorsOf(disk, diskSizeBytes, sectorSize);
        GptHeader? primaryHeader = null;
        string primaryProblem;
        try
        {
            var (header, partitions) = ReadAt(disk, 1, sectorSize, $"{source}: primary GPT header at LBA 1", out primaryHeader);
            return new GptPartitionTable(header, partitions, diskSectors, sectorSize, source);
        }
        catch (ImageToolsException e) when (e.Kind == ErrorKind.InvalidPartitionTable)
        {
            primaryProblem = e.Message;
        }

        long? backupLba = primaryHeader != null ? (long)primaryHeader.AlternateLba : diskSectors - 1;
        if (backupLba is not { } lba || lba <= 1)
        {
            throw new ImageToolsException(ErrorKind.InvalidPartitionTable,
                $"{primaryProblem}; the disk's size is unknown, so the backup header cannot be found") { Path = source };
        }
        try
        {
            var (header, partitions) = ReadAt(disk, lba, sectorSize, $"{source}: backup GPT header at LBA {lba}", out _);
            var table = new GptPartitionTable(header, partitions, diskSectors, sectorSize, source);
            table._problems.Add($"{primaryProblem}; the backup header at LBA {lba} was read instead");
            return table;
        }
        catch (ImageToolsException e) when (e.Kind == ErrorKind.InvalidPartitionTable)
        {
            throw new ImageToolsException(ErrorKind.InvalidPartitionTable, $"{primaryProblem}; and {e.Message}") { Path = source };
        }
    }

    private static (GptHeader, IReadOnlyList<GptPartition>) ReadAt(Stream disk, long lba, int sectorSize, string what, out GptHeader? header)
    {
        header = null;
        var sector = new byte[sectorSize];
        if (DiskSectors.Read(disk, lba, sectorSize, sector) < sectorSize)
        {
            throw new ImageToolsException(ErrorKind.InvalidPartitionTable, $"{what}: the image ends before it");
        }
        header = GptHeader.Read(sector, what);
        if (header.MyLba != (ulong)lba)
        {
            throw new ImageToolsException(ErrorKind.InvalidPartitionTable, $"{what}: the header says it is at LBA {header.MyLba}");
        }
        var arrayBytes = (int)((long)header.EntryCount * header.EntrySize); // bounded by GptHeader's checks
        var array = new byte[arrayBytes];
        if (arrayBytes > 0 && DiskSectors.Read(disk, (long)header.EntryArrayLba, sectorSize, array) < arrayBytes)
        {
            throw new ImageToolsException(ErrorKind.InvalidPartitionTable,
                $"{what}: the entry array at LBA {header.EntryArrayLba} ({arrayBytes} bytes) runs past the end of the image");
        }
        var crc = Crc32.HashToUInt32(array);
        if (crc != header.EntryArrayCrc32)
        {
            throw new ImageToolsException(ErrorKind.InvalidPartitionTable,
                $"{what}: the entry array at LBA {header.EntryArrayLba} has CRC32 0x{crc:x8}, the header says 0x{header.EntryArrayCrc32:x8}");
        }
        var partitions = new List<GptPartition>();
        for (var i = 0; i < header.EntryCount; i++)
        {
            var entry = GptPartitionEntry.Read(array.AsSpan((int)((long)i * header.EntrySize)));
            if (entry.IsUsed)
            {
                if (entry.StartingLba > long.MaxValue / (ulong)sectorSize || entry.EndingLba > long.MaxValue / (ulong)sectorSize)
                {
                    throw new ImageToolsException(ErrorKind.InvalidPartitionTable,
                        $"{what}: partition {i + 1} has absurd LBAs {entry.StartingLba}-{entry.EndingLba}");
                }
                partitions.Add(new GptPartition(i + 1, entry));
            }
        }
        return (header, partitions);
    }

    /// <summary>
    /// Everything wrong with the layout: entries ending before they start, outside the usable area or past the
    /// end of the disk, overlaps, and a damaged primary header.
    /// </summary>
    public IReadOnlyList<string> FindProblems()
    {
        var problems = new List<string>(_problems);
        problems.AddRange(FindLayoutProblems(Header, Partitions, DiskSizeInSectors));
        return problems;
    }

    /// <summary>The layout checks shared by the reader and the writer (<see cref="GptDiskLayout"/>).</summary>
    internal static List<string> FindLayoutProblems(GptHeader header, IReadOnlyList<GptPartition> partitions, long? diskSizeInSectors)
    {
        var problems = new List<string>();
        foreach (var p in partitions)
        {
            if (p.Entry.EndingLba < p.Entry.StartingLba)
            {
                problems.Add($"partition {p.Number} ends (sector {p.Entry.EndingLba}) before it starts (sector {p.Entry.StartingLba})");
                continue;
            }
            if (p.Entry.StartingLba < header.FirstUsableLba || p.Entry.EndingLba > header.LastUsableLba)
            {
                problems.Add($"{p.Describe()} is outside the usable sectors {header.FirstUsableLba}-{header.LastUsableLba}");
            }
            if (diskSizeInSectors is { } total && p.EndSector >= total)
            {
                problems.Add($"{p.Describe()} ends past the end of the disk (last sector {total - 1}, {total} sectors)");
            }
        }
        var sound = partitions.Where(p => p.Entry.EndingLba >= p.Entry.StartingLba).ToList();
        for (var i = 0; i < sound.Count; i++)
        {
            for (var j = i + 1; j < sound.Count; j++)
            {
                var a = sound[i];
                var b = sound[j];
                if (a.StartSector <= b.EndSector && b.StartSector <= a.EndSector)
                {
                    problems.Add($"{a.Describe()} and {b.Describe()} overlap on sectors " +
                                 $"{Math.Max(a.StartSector, b.StartSector)}-{Math.Min(a.EndSector, b.EndSector)}");
                }
            }
        }
        return problems;
    }
}
