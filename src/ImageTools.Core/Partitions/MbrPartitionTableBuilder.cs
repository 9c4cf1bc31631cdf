using System.Security.Cryptography;

namespace ImageTools.Core.Partitions;

/// <summary>
/// Lays out a new MBR partition table the way sfdisk would for the same request, so the result reads back
/// through <c>sfdisk --dump</c> as intended and carries the very CHS bytes sfdisk writes:
/// <list type="bullet">
/// <item>partitions start on the alignment grain (1 MiB by default); the first one at one grain from the start;</item>
/// <item>a partition without a size runs to the last sector of the disk (or of the extended partition);</item>
/// <item>the first EBR sits at the start of the extended partition and its logical partition one grain after
/// it; every later EBR sits one grain before its logical partition, which starts at least one grain after the
/// previous logical partition ends (libfdisk's rule);</item>
/// <item>CHS fields use 255 heads × 63 sectors, capped at 1023/254/63.</item>
/// </list>
/// Partition numbers follow the order of the calls: primaries and the extended partition take 1, 2, 3, 4,
/// logical partitions 5, 6, ... <see cref="Build"/> checks the layout and throws with the partition numbers
/// and sectors of any problem.
/// </summary>
public sealed class MbrPartitionTableBuilder
{
    private readonly List<Request> _requests = new();

    /// <param name="diskSizeBytes">The size of the disk the table is for.</param>
    /// <param name="sectorSize">Bytes per sector (512 for image files).</param>
    public MbrPartitionTableBuilder(long diskSizeBytes, int sectorSize = MasterBootRecord.Size)
    {
        DiskSectors.RequireSectorSize(sectorSize);
        if (diskSizeBytes < 2L * sectorSize)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"a disk of {diskSizeBytes} bytes has no room for a partition table and a partition");
        }
        SectorSize = sectorSize;
        DiskSizeInSectors = diskSizeBytes / sectorSize;
    }

    public int SectorSize { get; }

    public long DiskSizeInSectors { get; }

    /// <summary>Alignment grain in sectors; 2048 (1 MiB with 512-byte sectors) like sfdisk, 1 for none.</summary>
    public long AlignmentSectors { get; set; } = 1024 * 1024 / MasterBootRecord.Size;

    /// <summary>The disk signature (sfdisk's label-id, Linux's PARTUUID prefix); null draws a random non-zero one.</summary>
    public uint? DiskSignature { get; set; }

    /// <summary>440 bytes of boot code to install with the table; null leaves the disk's boot code untouched.</summary>
    public byte[]? BootCode { get; set; }

    public DiskGeometry Geometry { get; set; } = DiskGeometry.Lba;

    private long Grain => Math.Max(1, AlignmentSectors);

    public MbrPartitionTableBuilder WithDiskSignature(uint signature)
    {
        DiskSignature = signature;
        return this;
    }

    public MbrPartitionTableBuilder WithAlignment(long sectors)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sectors, 1);
        AlignmentSectors = sectors;
        return this;
    }

    /// <summary>Adds a primary partition (numbered 1-4 in call order, sharing those numbers with the extended one).</summary>
    /// <param name="type">Its type id, see <see cref="MbrPartitionType"/>.</param>
    /// <param name="sizeSectors">Its size; null runs it to the end of the disk.</param>
    /// <param name="startSector">Its first sector; null takes the next aligned free sector.</param>
    /// <param name="bootable">Sets status 0x80, the partition the MBR boot code starts.</param>
    public MbrPartitionTableBuilder AddPrimary(byte type, long? sizeSectors = null, long? startSector = null, bool bootable = false)
    {
        if (MbrPartitionType.IsExtended(type))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"type 0x{type:x2} is an extended partition: use {nameof(AddExtended)} so its chain of EBRs is written");
        }
        _requests.Add(new Request(MbrPartitionKind.Primary, type, sizeSectors, startSector, bootable));
        return this;
    }

    /// <summary>Adds the extended partition that holds the logical partitions added after it.</summary>
    public MbrPartitionTableBuilder AddExtended(long? sizeSectors = null, long? startSector = null, byte type = MbrPartitionType.Extended)
    {
        if (!MbrPartitionType.IsExtended(type))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"type 0x{type:x2} is not an extended partition type (05, 0f or 85)");
        }
        if (_requests.Any(r => r.Kind == MbrPartitionKind.Extended))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "a disk has at most one extended partition");
        }
        _requests.Add(new Request(MbrPartitionKind.Extended, type, sizeSectors, startSector, false));
        return this;
    }

    /// <summary>Adds a logical partition (5, 6, ...) inside the extended partition.</summary>
    /// <param name="type">Its type id, see <see cref="MbrPartitionType"/>.</param>
    /// <param name="sizeSectors">Its size; null runs it to the end of the extended partition.</param>
    /// <param name="startSector">Its first sector; null leaves one grain for its EBR after the previous one.</param>
    /// <param name="bootable">Sets status 0x80 in its EBR entry.</param>
    public MbrPartitionTableBuilder AddLogical(byte type, long? sizeSectors = null, long? startSector = null, bool bootable = false)
    {
        if (!_requests.Any(r => r.Kind == MbrPartitionKind.Extended))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "a logical partition needs an extended partition: call AddExtended first");
        }
        if (MbrPartitionType.IsExtended(type))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"a logical partition cannot have the extended type 0x{type:x2}");
        }
        _requests.Add(new Request(MbrPartitionKind.Logical, type, sizeSectors, startSector, bootable));
        return this;
    }

    /// <summary>Places every partition, checks the layout and returns the table, ready to be written.</summary>
    public MbrPartitionTable Build()
    {
        var primaries = _requests.Where(r => r.Kind != MbrPartitionKind.Logical).ToList();
        if (primaries.Count > MasterBootRecord.EntryCount)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"an MBR holds 4 primary entries (the extended partition counts as one); {primaries.Count} were asked for");
        }
        var lastDiskSector = Math.Min(DiskSizeInSectors - 1, uint.MaxValue);
        var entries = Enumerable.Repeat(MbrPartitionEntry.Empty, MasterBootRecord.EntryCount).ToArray();
        var ebrs = new List<ExtendedBootRecordAt>();
        long nextFree = Grain;
        long extendedStart = 0, extendedEnd = 0;

        for (var slot = 0; slot < primaries.Count; slot++)
        {
            var r = primaries[slot];
            var number = slot + 1;
            var start = r.Start ?? AlignUp(nextFree);
            var size = r.Size ?? lastDiskSector - start + 1;
            Check(number, start, size, 1, lastDiskSector, "the disk");
            entries[slot] = MbrPartitionEntry.Create(r.Type, start, size, 0, r.Bootable, Geometry);
            nextFree = Math.Max(nextFree, start + size);
            if (r.Kind == MbrPartitionKind.Extended)
            {
                extendedStart = start;
                extendedEnd = start + size - 1;
            }
        }

        var logicals = _requests.Where(r => r.Kind == MbrPartitionKind.Logical).ToList();
        if (extendedStart != 0)
        {
            ebrs.AddRange(LayOutLogicals(logicals, extendedStart, extendedEnd));
        }

        var mbr = new MasterBootRecord(entries, DiskSignature ?? RandomSignature(), 0, BootCode);
        var table = new MbrPartitionTable(mbr, ebrs, DiskSizeInSectors, SectorSize, "new partition table");
        var problems = table.FindProblems();
        if (problems.Count > 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"the requested partition layout is invalid: {string.Join("; ", problems)}");
        }
        return table;
    }

    private List<ExtendedBootRecordAt> LayOutLogicals(List<Request> logicals, long extendedStart, long extendedEnd)
    {
        var ebrs = new List<ExtendedBootRecordAt>();
        if (logicals.Count == 0)
        {
            // An empty extended partition still gets a blank EBR, so stale bytes there are not taken for a chain.
            ebrs.Add(new ExtendedBootRecordAt(extendedStart, ExtendedBootRecord.Blank));
            return ebrs;
        }
        var placed = new List<(long Ebr, long Start, long Size, Request Request)>();
        long previousEnd = -1;
        for (var i = 0; i < logicals.Count; i++)
        {
            var r = logicals[i];
            var number = MbrPartitionTable.FirstLogicalNumber + i;
            long ebr, start;
            if (i == 0)
            {
                ebr = extendedStart;
                start = r.Start ?? AlignUp(extendedStart + Grain);
            }
            else
            {
                start = r.Start ?? AlignUp(previousEnd + 1 + Grain);
                ebr = start - Grain;
                if (ebr <= previousEnd)
                {
                    ebr = previousEnd + 1;
                }
            }
            if (start <= ebr)
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument,
                    $"partition {number} cannot start at sector {start}: its EBR needs a sector before it, after partition {number - 1}" +
                    (i == 0 ? $" (the first EBR is at the extended partition's start, sector {extendedStart})" : ""));
            }
            var size = r.Size ?? extendedEnd - start + 1;
            Check(number, start, size, extendedStart + 1, extendedEnd, $"the extended partition (sectors {extendedStart}-{extendedEnd})");
            placed.Add((ebr, start, size, r));
            previousEnd = start + size - 1;
        }

        for (var i = 0; i < placed.Count; i++)
        {
            var (ebr, start, size, r) = placed[i];
            var logical = MbrPartitionEntry.Create(r.Type, start, size, ebr, r.Bootable, Geometry);
            var link = MbrPartitionEntry.Empty;
            if (i + 1 < placed.Count)
            {
                // The link spans the next EBR through the end of the next logical partition, counted from the
                // extended partition's start; sfdisk always types it 0x05.
                var next = placed[i + 1];
                link = MbrPartitionEntry.Create(MbrPartitionType.Extended, next.Ebr, next.Start + next.Size - next.Ebr,
                    extendedStart, false, Geometry);
            }
            ebrs.Add(new ExtendedBootRecordAt(ebr, new ExtendedBootRecord(logical, link)));
        }
        return ebrs;
    }

    private void Check(int number, long start, long size, long first, long last, string container)
    {
        if (size <= 0)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"partition {number}: {(size == 0 ? "no sectors left" : $"size {size}")} at sector {start}: {container} ends at sector {last}");
        }
        if (start < first || start + size - 1 > last)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"partition {number} (sectors {start}-{start + size - 1}) does not fit in {container}, which allows sectors {first}-{last}");
        }
    }

    private long AlignUp(long sector) => (sector + Grain - 1) / Grain * Grain;

    private static uint RandomSignature()
    {
        Span<byte> bytes = stackalloc byte[4];
        uint value;
        do
        {
            RandomNumberGenerator.Fill(bytes);
            value = BitConverter.ToUInt32(bytes);
        } while (value == 0);
        return value;
    }

    private sealed record Request(MbrPartitionKind Kind, byte Type, long? Size, long? Start, bool Bootable);
}
