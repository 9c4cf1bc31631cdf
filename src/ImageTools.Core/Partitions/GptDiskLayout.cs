using System.Buffers.Binary;
using System.IO.Hashing;

namespace ImageTools.Core.Partitions;

/// <summary>
/// Everything a GPT disk carries outside its partitions, laid out for a disk of <see cref="DiskSectors"/> sectors
/// (UEFI specification 2.10, section 5.3), and written the way sgdisk and sfdisk write it:
/// <code>
/// LBA 0                   protective MBR: one entry, type 0xEE, from LBA 1 over the whole disk (capped at 2^32 - 1 sectors)
/// LBA 1                   primary header (my LBA 1, alternate LBA = the last sector)
/// LBA 2 .. 2+A-1          primary entry array, A = entries × entry size / sector size (32 sectors for 128 × 128 bytes)
/// LBA 2+A .. N-A-2        usable sectors: the partitions
/// LBA N-A-1 .. N-2        backup entry array (a copy of the primary one)
/// LBA N-1                 backup header (my LBA N-1, alternate LBA 1, entry array LBA N-A-1)
/// </code>
/// Both headers carry the CRC32 of the entry array and their own; <see cref="Validate"/> refuses, before a byte is
/// written, anything the reader (<see cref="GptPartitionTable"/>) or sgdisk -v would call a problem.
/// </summary>
public sealed record GptDiskLayout
{
    /// <summary>The entry count every common tool writes (sgdisk, sfdisk, parted): 128 entries of 128 bytes.</summary>
    public const int DefaultEntryCount = 128;

    /// <summary>The disk size in sectors.</summary>
    public required long DiskSectors { get; init; }

    public int SectorSize { get; init; } = MasterBootRecord.Size;

    public required Guid DiskGuid { get; init; }

    /// <summary>The entry array, one slot per entry (unused slots are <c>new GptPartitionEntry()</c>); slot i is partition i + 1.</summary>
    public required IReadOnlyList<GptPartitionEntry> Entries { get; init; }

    /// <summary>The 440 bytes of MBR boot code (GRUB's boot.img on a hybrid disk); null writes zeros when the MBR is made from scratch.</summary>
    public byte[]? BootCode { get; init; }

    public int EntrySize => GptPartitionEntry.Size;

    /// <summary>Sectors the entry array fills (each copy).</summary>
    public long EntryArraySectors => ((long)Entries.Count * EntrySize + SectorSize - 1) / SectorSize;

    /// <summary>
    /// The first usable sector when a table says so (sfdisk writes 2048, its alignment); null: right after the
    /// primary entry array, as sgdisk writes it.
    /// </summary>
    public long? RequestedFirstUsableLba { get; init; }

    public long FirstUsableLba => RequestedFirstUsableLba ?? 2 + EntryArraySectors;

    public long LastUsableLba => DiskSectors - 2 - EntryArraySectors;

    public long BackupHeaderLba => DiskSectors - 1;

    public long BackupEntryArrayLba => BackupHeaderLba - EntryArraySectors;

    /// <summary>The used entries with their numbers.</summary>
    public IReadOnlyList<GptPartition> Partitions =>
        Entries.Select((e, i) => new GptPartition(i + 1, e)).Where(p => p.Entry.IsUsed).ToList();

    /// <summary>The smallest disk holding the metadata and the given usable sectors.</summary>
    public static long MinimumDiskSectors(long usableSectors, int entryCount = DefaultEntryCount, int sectorSize = MasterBootRecord.Size) =>
        usableSectors + 3 + 2 * (((long)entryCount * GptPartitionEntry.Size + sectorSize - 1) / sectorSize);

    /// <summary>
    /// The layout of a table read from a disk, redone for a disk of <paramref name="diskSectors"/> sectors: same disk
    /// GUID and entries, the backup moved to the new last sector and the usable area to match.
    /// </summary>
    public static GptDiskLayout From(GptPartitionTable table, long diskSectors)
    {
        var header = table.Header;
        if (header.EntrySize != GptPartitionEntry.Size)
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{table.Source}: its GPT entries are {header.EntrySize} bytes; rewriting the table keeps only 128-byte entries, which would drop the rest") { Path = table.Source };
        }
        var entries = Enumerable.Repeat(new GptPartitionEntry(), (int)header.EntryCount).ToArray();
        foreach (var p in table.Partitions)
        {
            entries[p.Number - 1] = p.Entry;
        }
        // The first usable sector is the table's choice and stays; the last follows the disk's end (as sfdisk
        // --relocate gpt-bak-std moves it).
        var firstUsable = (long)header.FirstUsableLba;
        return new GptDiskLayout
        {
            DiskSectors = diskSectors, SectorSize = table.SectorSize, DiskGuid = header.DiskGuid, Entries = entries,
            RequestedFirstUsableLba = firstUsable == 2 + ((long)header.EntryCount * GptPartitionEntry.Size + table.SectorSize - 1) / table.SectorSize ? null : firstUsable,
        };
    }

    public GptHeader PrimaryHeader => Header(1, BackupHeaderLba, 2);

    public GptHeader BackupHeader => Header(BackupHeaderLba, 1, BackupEntryArrayLba);

    private GptHeader Header(long my, long alternate, long entryArray) => new()
    {
        MyLba = (ulong)my,
        AlternateLba = (ulong)alternate,
        FirstUsableLba = (ulong)FirstUsableLba,
        LastUsableLba = (ulong)LastUsableLba,
        DiskGuid = DiskGuid,
        EntryArrayLba = (ulong)entryArray,
        EntryCount = (uint)Entries.Count,
        EntrySize = (uint)EntrySize,
        EntryArrayCrc32 = Crc32.HashToUInt32(EncodeEntryArray()),
    };

    /// <summary>The entry array padded to whole sectors (the CRC covers only entries × entry size bytes).</summary>
    public byte[] EncodeEntryArray(bool padToSectors = false)
    {
        var bytes = new byte[padToSectors ? EntryArraySectors * SectorSize : Entries.Count * EntrySize];
        for (var i = 0; i < Entries.Count; i++)
        {
            try
            {
                Entries[i].Write(bytes.AsSpan(i * EntrySize, EntrySize));
            }
            catch (ImageToolsException e)
            {
                throw new ImageToolsException(e.Kind, $"GPT partition {i + 1}: {e.Message}", e);
            }
        }
        return bytes;
    }

    /// <summary>The protective MBR entry: type 0xEE from LBA 1 to the end of the disk, or 2^32 - 1 sectors on a larger disk.</summary>
    public MbrPartitionEntry ProtectiveEntry =>
        MbrPartitionEntry.Create(MbrPartitionType.GptProtective, 1, Math.Min(DiskSectors - 1, uint.MaxValue), 0, false, DiskGeometry.Lba);

    /// <summary>A fresh protective MBR: <see cref="BootCode"/> (or zeros), disk signature 0, the 0xEE entry, 0x55AA.</summary>
    public byte[] EncodeProtectiveMbr()
    {
        var sector = new byte[SectorSize];
        var entries = new[] { ProtectiveEntry, MbrPartitionEntry.Empty, MbrPartitionEntry.Empty, MbrPartitionEntry.Empty };
        new MasterBootRecord(entries, 0, 0, BootCode).Write(sector);
        return sector;
    }

    /// <summary>
    /// Sector 0 of an existing disk with its 0xEE entry resized to this layout (boot code, disk signature and the
    /// other entries of a hybrid MBR kept as they were). Throws when the sector has no 0xEE entry.
    /// </summary>
    public byte[] PatchProtectiveMbr(ReadOnlySpan<byte> existingSector0, string source)
    {
        var sector = existingSector0[..SectorSize].ToArray();
        var mbr = MasterBootRecord.Read(sector, source);
        var index = mbr.Entries.ToList().FindIndex(e => e.IsUsed && e.Type == MbrPartitionType.GptProtective);
        if (index < 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidPartitionTable, $"{source}: sector 0 has no protective (0xEE) entry") { Path = source };
        }
        var old = mbr.Entries[index];
        // A hybrid MBR's 0xEE entry need not start at LBA 1 or cover the disk; only a full protective entry follows the disk's size.
        var covered = (long)old.StartLba + old.SectorCount;
        if (old.StartLba == 1)
        {
            var entry = ProtectiveEntry with { Status = old.Status };
            entry.Write(sector.AsSpan(MasterBootRecord.EntryOffset(index)));
        }
        else if (covered > DiskSectors)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"{source}: the hybrid MBR's 0xEE entry {index + 1} reaches sector {covered - 1}, past the new disk's end") { Path = source };
        }
        return sector;
    }

    /// <summary>Every problem of the layout, in words: what sgdisk -v and the reader would complain about.</summary>
    public IReadOnlyList<string> FindProblems()
    {
        var problems = new List<string>();
        if (Entries.Count is 0 or > GptHeader.MaxEntryCount)
        {
            problems.Add($"{Entries.Count} entries (a GPT has 1..{GptHeader.MaxEntryCount}, usually {DefaultEntryCount})");
            return problems;
        }
        if (FirstUsableLba < 2 + EntryArraySectors)
        {
            problems.Add($"the first usable sector {FirstUsableLba} lies within the primary entry array (sectors 2-{1 + EntryArraySectors})");
            return problems;
        }
        if (LastUsableLba < FirstUsableLba)
        {
            problems.Add($"a disk of {DiskSectors} sectors has no room for a GPT ({MinimumDiskSectors(1, Entries.Count, SectorSize)} sectors at least)");
            return problems;
        }
        var header = PrimaryHeader;
        problems.AddRange(GptPartitionTable.FindLayoutProblems(header, Partitions, DiskSectors));
        var seen = new Dictionary<Guid, int>();
        foreach (var p in Partitions)
        {
            if (p.Entry.UniqueGuid == Guid.Empty)
            {
                problems.Add($"{p.Describe()} has no unique partition GUID");
            }
            else if (seen.TryGetValue(p.Entry.UniqueGuid, out var other))
            {
                problems.Add($"{p.Describe()} has the same unique GUID as partition {other}");
            }
            else
            {
                seen[p.Entry.UniqueGuid] = p.Number;
            }
        }
        if (DiskGuid == Guid.Empty)
        {
            problems.Add("the disk GUID is all zeros");
        }
        return problems;
    }

    /// <summary>Throws <see cref="ErrorKind.InvalidArgument"/> naming every problem of the layout.</summary>
    public void Validate()
    {
        var problems = FindProblems();
        if (problems.Count > 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"the GPT layout is invalid: {string.Join("; ", problems)}");
        }
    }

    /// <summary>
    /// The sectors to write, in disk order, each (LBA, bytes): primary header and array, backup array and header.
    /// Sector 0 is not among them (see <see cref="EncodeProtectiveMbr"/> and <see cref="PatchProtectiveMbr"/>).
    /// </summary>
    public IReadOnlyList<(long Lba, byte[] Bytes)> EncodeTableSectors()
    {
        Validate();
        var array = EncodeEntryArray(padToSectors: true);
        var primary = new byte[SectorSize];
        PrimaryHeader.Write(primary);
        var backup = new byte[SectorSize];
        BackupHeader.Write(backup);
        return new List<(long, byte[])> { (1, primary), (2, array), (BackupEntryArrayLba, (byte[])array.Clone()), (BackupHeaderLba, backup) };
    }

    /// <summary>Writes the protective MBR and both tables to <paramref name="disk"/> (a stream over the whole disk).</summary>
    public void WriteTo(Stream disk)
    {
        var sectors = EncodeTableSectors();
        global::ImageTools.Core.Partitions.DiskSectors.Write(disk, 0, SectorSize, EncodeProtectiveMbr());
        foreach (var (lba, bytes) in sectors)
        {
            global::ImageTools.Core.Partitions.DiskSectors.Write(disk, lba, SectorSize, bytes);
        }
    }
}
