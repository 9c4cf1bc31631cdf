using ImageTools.Core.Streams;

namespace ImageTools.Core.Partitions;

/// <summary>
/// The partition table of a disk, whatever its scheme: an MBR table (with its logical partitions) or, when the
/// MBR is protective, the GPT behind it. This is what listing, copying one partition, or writing into one
/// partition work from.
/// </summary>
public sealed class PartitionTable
{
    private PartitionTable(MbrPartitionTable mbr, GptPartitionTable? gpt)
    {
        Mbr = mbr;
        Gpt = gpt;
        if (gpt != null)
        {
            Partitions = gpt.Partitions.Select(p => new DiskPartition
            {
                Number = p.Number,
                Kind = PartitionKind.Gpt,
                StartSector = p.StartSector,
                SectorCount = p.SectorCount,
                SectorSize = gpt.SectorSize,
                IsBootable = (p.Entry.Attributes & GptPartitionEntry.LegacyBiosBootableAttribute) != 0,
                TypeId = GptPartitionType.IdOf(p.Entry.TypeGuid),
                TypeName = p.TypeName,
                GptType = p.Entry.TypeGuid,
                UniqueGuid = p.Entry.UniqueGuid,
                Name = p.Entry.Name,
            }).ToArray();
        }
        else
        {
            Partitions = mbr.Partitions.Select(p => new DiskPartition
            {
                Number = p.Number,
                Kind = p.Kind switch
                {
                    MbrPartitionKind.Extended => PartitionKind.Extended,
                    MbrPartitionKind.Logical => PartitionKind.Logical,
                    _ => PartitionKind.Primary,
                },
                StartSector = p.StartSector,
                SectorCount = p.SectorCount,
                SectorSize = mbr.SectorSize,
                IsBootable = p.IsBootable,
                TypeId = MbrPartitionType.IdOf(p.Type),
                TypeName = p.TypeName,
                MbrType = p.Type,
            }).ToArray();
        }
    }

    public PartitionScheme Scheme => Gpt != null ? PartitionScheme.Gpt : PartitionScheme.Mbr;

    /// <summary>The MBR table; on a GPT disk, the protective MBR.</summary>
    public MbrPartitionTable Mbr { get; }

    /// <summary>The GPT, when the MBR is protective.</summary>
    public GptPartitionTable? Gpt { get; }

    /// <summary>Partitions in number order (the MBR extended container included, as sfdisk lists it).</summary>
    public IReadOnlyList<DiskPartition> Partitions { get; }

    /// <summary>The disk identifier as sfdisk prints it: "0x1234abcd" for MBR, the disk GUID for GPT.</summary>
    public string DiskIdentifier => Gpt != null
        ? Gpt.DiskGuid.ToString("D").ToUpperInvariant()
        : $"0x{Mbr.DiskSignature:x8}";

    public long? DiskSizeInSectors => Mbr.DiskSizeInSectors;

    public int SectorSize => Mbr.SectorSize;

    public string Source => Mbr.Source;

    /// <summary>A cheap probe: could sector 0 be an MBR (0x55AA and plausible status bytes)? Never throws.</summary>
    public static bool LooksPartitioned(ReadOnlySpan<byte> sector0)
    {
        if (!MasterBootRecord.HasBootSignature(sector0))
        {
            return false;
        }
        var anyEntry = false;
        for (var i = 0; i < MasterBootRecord.EntryCount; i++)
        {
            var status = sector0[MasterBootRecord.EntryOffset(i) + MbrPartitionEntry.StatusOffset];
            if (status is not (MbrPartitionEntry.NotBootableStatus or MbrPartitionEntry.BootableStatus))
            {
                return false;
            }
            anyEntry |= sector0.Slice(MasterBootRecord.EntryOffset(i), MbrPartitionEntry.Size).IndexOfAnyExcept((byte)0) >= 0;
        }
        return anyEntry || MasterBootRecord.FilesystemBootSectorKind(sector0) == null;
    }

    /// <summary>
    /// Reads the table of <paramref name="disk"/>. Throws <see cref="ErrorKind.InvalidPartitionTable"/> when there
    /// is none or it is too damaged to read; layout problems are left to <see cref="FindProblems"/>.
    /// </summary>
    /// <param name="disk">A seekable stream over the whole disk.</param>
    /// <param name="diskSizeBytes">The disk's size; null takes the stream's length (pass it for block devices).</param>
    /// <param name="source">Names the disk in messages.</param>
    /// <param name="sectorSize">Bytes per sector (512 for image files).</param>
    /// <param name="tolerateBrokenChain">List what can be read of a broken EBR chain instead of throwing (see <see cref="MbrPartitionTable.Read"/>).</param>
    public static PartitionTable Read(Stream disk, long? diskSizeBytes = null, string source = "disk", int sectorSize = MasterBootRecord.Size,
        bool tolerateBrokenChain = false)
    {
        var mbr = MbrPartitionTable.Read(disk, diskSizeBytes, source, sectorSize, tolerateBrokenChain);
        var gpt = mbr.HasGptProtectiveEntry ? GptPartitionTable.Read(disk, diskSizeBytes, source, sectorSize) : null;
        return new PartitionTable(mbr, gpt);
    }

    /// <summary>
    /// Reads the table of an opened input (a file, a device, or a compressed file, whose bytes are decompressed up
    /// to the last sector read) through a second, random-access view of it. A pipe cannot be read twice:
    /// <see cref="ErrorKind.UnsupportedFeature"/>.
    /// </summary>
    /// <param name="opened">The input, as <see cref="SourceOpener"/> opened it.</param>
    /// <param name="tolerateBrokenChain">List what can be read of a broken EBR chain instead of throwing.</param>
    public static PartitionTable Read(OpenedSource opened, bool tolerateBrokenChain = false)
    {
        var open = opened.OpenRandomAccess ?? throw new ImageToolsException(ErrorKind.UnsupportedFeature,
            $"{opened.Source.Name}: reading its partition table needs random access, and a pipe cannot be read twice; " +
            "save the image to a file first (a compressed file is fine)") { Path = opened.Source.Name };
        using var stream = open();
        return Read(stream, opened.Source.Length, opened.Source.Name, tolerateBrokenChain: tolerateBrokenChain);
    }

    /// <summary>The partition numbered <paramref name="number"/>; throws naming the numbers the disk does have.</summary>
    public DiskPartition Get(int number)
    {
        var partition = Partitions.FirstOrDefault(p => p.Number == number);
        if (partition == null)
        {
            var have = Partitions.Count == 0 ? "it has no partitions" : $"it has {string.Join(", ", Partitions.Select(p => p.Number))}";
            throw new ImageToolsException(ErrorKind.NotFound, $"{Source} has no partition {number} ({have})") { Path = Source };
        }
        return partition;
    }

    /// <summary>Every layout problem of the table in use (see <see cref="MbrPartitionTable.FindProblems"/>).</summary>
    public IReadOnlyList<string> FindProblems() => Gpt?.FindProblems() ?? Mbr.FindProblems();

    /// <summary>Throws <see cref="ErrorKind.InvalidPartitionTable"/> listing every problem, if there is any.</summary>
    public void Validate()
    {
        var problems = FindProblems();
        if (problems.Count > 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidPartitionTable,
                $"{Source}: invalid {(Gpt != null ? "GPT" : "MBR")} partition table: {string.Join("; ", problems)}") { Path = Source };
        }
    }

    /// <summary>
    /// A stream over partition <paramref name="number"/> of <paramref name="disk"/> (the disk this table was read
    /// from): reads stop at its end, writes past it are refused before anything is written.
    /// </summary>
    public SubStream Open(Stream disk, int number, bool writable = false) => Get(number).Open(disk, writable, Source);
}
