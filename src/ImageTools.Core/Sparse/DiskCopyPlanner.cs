using ImageTools.Core.Partitions;
using ImageTools.Core.Sparse.Bmap;
using ImageTools.Core.Streams;

namespace ImageTools.Core.Sparse;

/// <summary>
/// The decisions a copy takes from partition tables, before anything is written: which bytes of SOURCE a
/// partition is, which window of DEST a partition is and whether SOURCE fits in it, what of SOURCE a smaller
/// DEST can hold, and how the last partition grows to DEST's end. Every refusal happens here, so it leaves
/// DEST untouched.
/// </summary>
internal static class DiskCopyPlanner
{
    private const int SectorSize = MasterBootRecord.Size;

    /// <summary>What a whole-disk copy does about DEST's size.</summary>
    /// <param name="DestinationSize">DEST's size when known (a device, <c>-f</c>, the grown size).</param>
    /// <param name="Limit">Copy at most this many bytes of SOURCE.</param>
    /// <param name="CopiedUpTo">SOURCE is larger than DEST: only its bytes up to the end of its last partition are copied.</param>
    /// <param name="LastPartition">The partition ending there.</param>
    /// <param name="LimitedToDestination">SOURCE's size is unknown: at most DEST's size is copied, every partition ending within it.</param>
    /// <param name="Growth">The table change of <c>--grow</c>.</param>
    /// <param name="GrowthSectors">The original bytes of the sectors it changes, read from SOURCE.</param>
    /// <param name="Gpt">SOURCE's GPT as rewritten for DEST's size (backup at DEST's end, last partition grown), or null.</param>
    public sealed record WholeDiskPlan(long? DestinationSize, long? Limit = null, long? CopiedUpTo = null, DiskPartition? LastPartition = null,
        bool LimitedToDestination = false, MbrPartitionGrowth? Growth = null, Dictionary<long, byte[]>? GrowthSectors = null,
        GptRewrite? Gpt = null);

    /// <summary>Reads SOURCE's partition table through a second, random-access view of it (decompressed if need be).</summary>
    public static PartitionTable ReadSourceTable(OpenedSource opened, string path, string option)
    {
        if (opened.OpenRandomAccess == null)
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{option} needs the partition table of SOURCE {DisplayName(path)}, which is a pipe and cannot be read twice; " +
                "save the image to a file first (a compressed file is fine)") { Path = path };
        }
        return PartitionTable.Read(opened);
    }

    /// <summary>The partition <c>--partition N</c> copies: it exists, is not the extended container, and lies within SOURCE.</summary>
    public static DiskPartition SourcePartition(OpenedSource opened, int number, string path)
    {
        var table = ReadSourceTable(opened, path, $"--partition {number}");
        var partition = table.Get(number);
        RequireNotContainer(table, partition, DisplayName(path));
        if (opened.Source.Length is { } length && partition.EndOffset > length)
        {
            throw new ImageToolsException(ErrorKind.InvalidPartitionTable,
                $"{DisplayName(path)}: {partition.Describe()} ends past the end of the image ({length / SectorSize} sectors); " +
                $"its last {partition.EndOffset - length} bytes do not exist, so it cannot be copied whole") { Path = path };
        }
        return partition;
    }

    /// <summary>
    /// The partition <c>--to-partition N</c> writes, read from DEST itself; refused when DEST's table has any
    /// problem (writing into an overlapping or misplaced partition would damage its neighbour).
    /// </summary>
    public static DiskPartition DestinationPartition(CopyTarget target, int number, string path)
    {
        var length = target.ExistingLength ?? throw new InvalidOperationException("--to-partition needs a DEST written in place");
        using var stream = new CopyTargetReadStream(target, length);
        var table = PartitionTable.Read(stream, length, path);
        var partition = table.Get(number);
        RequireNotContainer(table, partition, path);
        var problems = table.FindProblems();
        if (problems.Count > 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidPartitionTable,
                $"{path}: refusing to write into partition {number}, because the partition table has problems: {string.Join("; ", problems)}; nothing was written")
            { Path = path };
        }
        return partition;
    }

    /// <summary>
    /// Refuses, before anything is written, a SOURCE that does not fit in the partition: by its size when known,
    /// else (compressed file) by decompressing it once to count, stopping as soon as it is too big. A pipe can only
    /// be measured by copying it; the window then refuses the first write past the end.
    /// </summary>
    public static void CheckFits(OpenedSource opened, CopyRequest request, DataSource source, DiskPartition partition, string destination)
    {
        var seek = request.Options.DestinationOffset;
        var room = partition.Length - seek;
        var where = $"partition {partition.Number} of {destination} ({partition.Length} bytes{(seek > 0 ? $", from offset {seek}" : "")})";
        if (room < 0)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"--seek {seek} is past the end of {where}; nothing was written") { Path = destination };
        }
        var max = request.Options.MaxBytes;
        if (source.Length is { } known)
        {
            var need = max is { } m ? Math.Min(known, m) : known;
            if (need > room)
            {
                throw new ImageToolsException(ErrorKind.DoesNotFit,
                    $"SOURCE {DisplayName(request.Source)} ({need} bytes{Piece(request)}) does not fit in {where}; nothing was written") { Path = destination };
            }
            return;
        }
        if (max is { } cap && cap <= room)
        {
            return;
        }
        if (opened.OpenRandomAccess is not { } open)
        {
            return; // a pipe: the window refuses the write that would pass the end
        }
        var start = (request.SourcePartition != null ? PartitionStartOf(opened, request) : 0) + request.SourceOffset;
        var upTo = room + 1;
        if (request.SourcePartition != null)
        {
            upTo = Math.Min(upTo, Math.Max(0, PartitionLengthOf(opened, request) - request.SourceOffset));
        }
        var measured = Measure(open, start, upTo);
        if (measured > room)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"SOURCE {DisplayName(request.Source)} (more than {room} bytes once decompressed{Piece(request)}) does not fit in {where}; nothing was written")
            { Path = destination };
        }
    }

    private static string Piece(CopyRequest request) =>
        request.SourcePartition is { } n ? $", its partition {n}" : "";

    private static long PartitionStartOf(OpenedSource opened, CopyRequest request) =>
        ReadSourceTable(opened, request.Source, $"--partition {request.SourcePartition}").Get(request.SourcePartition!.Value).Offset;

    private static long PartitionLengthOf(OpenedSource opened, CopyRequest request) =>
        ReadSourceTable(opened, request.Source, $"--partition {request.SourcePartition}").Get(request.SourcePartition!.Value).Length;

    /// <summary>How many bytes the stream holds from <paramref name="start"/>, counting no further than <paramref name="upTo"/>.</summary>
    private static long Measure(Func<Stream> open, long start, long upTo)
    {
        using var stream = open();
        stream.Position = start;
        var buffer = new byte[1 << 20];
        long counted = 0;
        while (counted < upTo)
        {
            var n = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, upTo - counted));
            if (n == 0)
            {
                break;
            }
            counted += n;
        }
        return counted;
    }

    /// <summary>
    /// A whole-disk copy and DEST's size: refuses (before anything is written) a smaller DEST that some partition
    /// does not fit in, limits the copy to the end of the last partition when they all fit, and plans
    /// <c>--grow</c> to DEST's end (on a larger DEST, or a smaller one with room after the last partition). SOURCE without a readable MBR keeps the plain rules.
    /// </summary>
    public static WholeDiskPlan PlanWholeDisk(OpenedSource opened, CopyRequest request, CopyTarget target)
    {
        var sourceLength = opened.Source.Length;
        long? destinationSize = target.Capacity ?? request.FinalSize;
        MbrPartitionGrowth? growth = null;
        Dictionary<long, byte[]>? growthSectors = null;

        if (opened.OpenRandomAccess != null && SourceHasProtectiveMbr(opened))
        {
            return PlanGptDisk(opened, request, target);
        }

        if (request.GrowLastPartition)
        {
            var grownSize = target.Capacity ?? request.FinalSize
                ?? (target.ExistingLength is { } existing && sourceLength is { } s ? Math.Max(existing, s) : sourceLength);
            if (grownSize is not { } newSize)
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument,
                    $"--grow needs DEST's final size, and the size of SOURCE {DisplayName(request.Source)} is unknown until it is read; give -f SIZE") { Path = request.Destination };
            }
            var table = ReadSourceTable(opened, request.Source, "--grow");
            destinationSize = newSize;
            // Also on a smaller DEST (an image with free space after its partitions, written to a smaller card):
            // the last partition then grows to DEST's end as well. When it ends past DEST, Plan returns null and
            // the fit check below refuses the copy.
            growth = MbrPartitionGrowth.Plan(table.Mbr, newSize / SectorSize);
            if (growth != null)
            {
                growthSectors = ReadSectors(opened, growth.Sectors);
            }
        }

        if (destinationSize is not { } size || (sourceLength is { } len && len <= size) || opened.OpenRandomAccess == null)
        {
            return new WholeDiskPlan(destinationSize, Growth: growth, GrowthSectors: growthSectors);
        }

        // DEST is smaller than SOURCE, or SOURCE's size is unknown: the partitions decide.
        if (sourceLength is null)
        {
            var primaryEnd = PrimaryEntriesEnd(opened);
            if (primaryEnd is not { } end)
            {
                return new WholeDiskPlan(destinationSize, Growth: growth, GrowthSectors: growthSectors);
            }
            if (end <= size)
            {
                // Every partition (the extended one bounds the logical ones) ends within DEST: copy at most DEST's size.
                return new WholeDiskPlan(destinationSize, Limit: size, LimitedToDestination: true, Growth: growth, GrowthSectors: growthSectors);
            }
        }

        PartitionTable sourceTable;
        try
        {
            sourceTable = ReadSourceTable(opened, request.Source, "copying to a smaller DEST");
        }
        catch (ImageToolsException e) when (sourceLength != null && e.Kind is ErrorKind.InvalidPartitionTable or ErrorKind.WrongInputKind)
        {
            // Not a partitioned disk (or one too damaged to read): the plain rules apply.
            return new WholeDiskPlan(destinationSize);
        }
        var partitions = sourceTable.Partitions;
        if (partitions.Count == 0)
        {
            return new WholeDiskPlan(destinationSize);
        }
        var misfits = partitions.Where(p => p.EndOffset > size).ToList();
        if (misfits.Count > 0)
        {
            var names = string.Join(", ", misfits.Select(p => p.Describe() + (p.IsContainer ? " (extended)" : "")));
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"DEST {request.Destination} holds {size} bytes ({size / SectorSize} sectors), less than SOURCE {DisplayName(request.Source)}" +
                (sourceLength is { } l2 ? $" ({l2} bytes)" : "") +
                $", and {names} {(misfits.Count == 1 ? "ends" : "end")} past DEST's last sector {size / SectorSize - 1}; nothing was written")
            { Path = request.Destination };
        }
        var last = partitions.OrderBy(p => p.EndOffset).ThenBy(p => p.IsContainer ? 0 : 1).Last();
        return new WholeDiskPlan(destinationSize, Limit: last.EndOffset, CopiedUpTo: last.EndOffset, LastPartition: last,
            Growth: growth, GrowthSectors: growthSectors);
    }

    /// <summary>
    /// A whole-disk copy of a GPT disk to a DEST of another size: the GPT is rewritten for DEST (the backup entry
    /// array and header in DEST's last sectors, the primary header pointing at them, the protective MBR entry
    /// resized), as <c>sgdisk -e</c> would after a <c>dd</c>; <c>--grow</c> also extends the partition that ends
    /// last to DEST's last usable sector. A smaller DEST is refused unless every partition ends before the backup
    /// array's place, and then takes SOURCE up to the end of its last partition.
    /// </summary>
    private static WholeDiskPlan PlanGptDisk(OpenedSource opened, CopyRequest request, CopyTarget target)
    {
        var sourceLength = opened.Source.Length;
        long? destinationSize = target.Capacity ?? request.FinalSize;
        if (request.GrowLastPartition && destinationSize == null)
        {
            destinationSize = target.ExistingLength is { } existing && sourceLength is { } s ? Math.Max(existing, s) : sourceLength;
            if (destinationSize == null)
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument,
                    $"--grow needs DEST's final size, and the size of SOURCE {DisplayName(request.Source)} is unknown until it is read; give -f SIZE") { Path = request.Destination };
            }
        }
        if (destinationSize is not { } size)
        {
            return new WholeDiskPlan(null);
        }

        PartitionTable table;
        try
        {
            table = ReadSourceTable(opened, request.Source, request.GrowLastPartition ? "--grow" : "copying a GPT disk to a DEST of another size");
        }
        catch (ImageToolsException e) when (!request.GrowLastPartition && e.Kind is ErrorKind.InvalidPartitionTable)
        {
            // Too damaged to rewrite: the bytes are copied as they are (what dd would do).
            return new WholeDiskPlan(destinationSize);
        }
        var gpt = table.Gpt!;
        var newSectors = size / SectorSize;
        // SOURCE's size: its length, or (compressed input) what its primary header says.
        long? sourceBytes = sourceLength ?? (gpt.UsesBackupHeader ? null : checked(((long)gpt.Header.AlternateLba + 1) * SectorSize));

        var layout = GptDiskLayout.From(gpt, newSectors);
        GptRewrite.Growth? growth = null;
        if (request.GrowLastPartition)
        {
            if (gpt.Partitions.Count == 0)
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument, $"{DisplayName(request.Source)}: the partition table has no partition to grow") { Path = request.Source };
            }
            var problems = gpt.FindProblems().Where(p => !p.Contains("backup header", StringComparison.Ordinal)).ToList();
            if (problems.Count > 0)
            {
                throw new ImageToolsException(ErrorKind.InvalidPartitionTable,
                    $"{DisplayName(request.Source)}: refusing to grow a GPT with problems: {string.Join("; ", problems)}; nothing was written") { Path = request.Source };
            }
            var last = gpt.Partitions.OrderBy(p => p.EndSector).Last();
            if (layout.LastUsableLba > last.EndSector)
            {
                var entries = layout.Entries.ToArray();
                entries[last.Number - 1] = last.Entry with { EndingLba = (ulong)layout.LastUsableLba };
                layout = layout with { Entries = entries };
                growth = new GptRewrite.Growth(last.Number, last.StartSector, last.EndSector, layout.LastUsableLba);
            }
        }

        var misfits = layout.Partitions.Where(p => p.EndSector > layout.LastUsableLba).ToList();
        if (misfits.Count > 0)
        {
            var names = string.Join(", ", misfits.Select(p => p.Describe()));
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"DEST {request.Destination} holds {size} bytes ({newSectors} sectors), less than SOURCE {DisplayName(request.Source)}" +
                (sourceBytes is { } l ? $" ({l} bytes)" : "") +
                $", and {names} {(misfits.Count == 1 ? "ends" : "end")} past sector {layout.LastUsableLba}, the last one before the backup GPT " +
                $"at DEST's end; nothing was written") { Path = request.Destination };
        }

        DiskPartition? lastPartition = table.Partitions.Count > 0 ? table.Partitions.OrderBy(p => p.EndOffset).Last() : null;
        long? limit = null;
        if (sourceBytes is not { } known || known > size)
        {
            // Everything SOURCE has past its last partition (its old backup GPT, free space) stays behind.
            limit = lastPartition?.EndOffset ?? layout.FirstUsableLba * SectorSize;
        }

        var unchanged = growth == null && sourceBytes == size && !gpt.UsesBackupHeader
                        && gpt.Header.AlternateLba == (ulong)layout.BackupHeaderLba && gpt.Header.LastUsableLba == (ulong)layout.LastUsableLba;
        GptRewrite? rewrite = null;
        if (!unchanged)
        {
            var sectors = new List<(long Lba, byte[] Bytes)>();
            var sector0 = ReadSectors(opened, new[] { 0L })[0];
            sectors.Add((0, layout.PatchProtectiveMbr(sector0, DisplayName(request.Source))));
            sectors.AddRange(layout.EncodeTableSectors());
            long? oldBackup = gpt.UsesBackupHeader ? (long)gpt.Header.MyLba : (long)gpt.Header.AlternateLba;
            if (oldBackup is { } old && old < newSectors && old != layout.BackupHeaderLba && (limit is null || old * SectorSize < limit))
            {
                // The old backup header, copied into the middle of DEST: cleared so no tool takes it for a table.
                sectors.Add((old, new byte[SectorSize]));
            }
            else
            {
                oldBackup = null;
            }
            rewrite = new GptRewrite(sectors, gpt.UsesBackupHeader ? null : (long)gpt.Header.AlternateLba, layout.BackupHeaderLba, oldBackup, growth);
        }
        var smaller = limit != null && sourceBytes is { } b && b > size;
        return new WholeDiskPlan(destinationSize, Limit: limit, CopiedUpTo: smaller ? limit : null, LastPartition: smaller ? lastPartition : null,
            Gpt: rewrite);
    }

    /// <summary>Is sector 0 of SOURCE an MBR with a 0xEE (GPT protective) entry? Never throws for a short or odd SOURCE.</summary>
    private static bool SourceHasProtectiveMbr(OpenedSource opened)
    {
        using var stream = opened.OpenRandomAccess!();
        var sector = new byte[SectorSize];
        if (stream.ReadAtLeast(sector, sector.Length, throwOnEndOfStream: false) < SectorSize)
        {
            return false;
        }
        try
        {
            return MasterBootRecord.Read(sector).Entries.Any(e => e.IsUsed && e.Type == MbrPartitionType.GptProtective);
        }
        catch (ImageToolsException)
        {
            return false;
        }
    }

    /// <summary>Where the last primary entry (the extended partition included) of SOURCE's MBR ends, or null without an MBR.</summary>
    private static long? PrimaryEntriesEnd(OpenedSource opened)
    {
        using var stream = opened.OpenRandomAccess!();
        var sector = new byte[SectorSize];
        if (stream.ReadAtLeast(sector, sector.Length, throwOnEndOfStream: false) < SectorSize)
        {
            return null;
        }
        MasterBootRecord mbr;
        try
        {
            mbr = MasterBootRecord.Read(sector);
        }
        catch (ImageToolsException)
        {
            return null;
        }
        var used = mbr.Entries.Where(e => e.IsUsed).ToList();
        return used.Count == 0 ? null : used.Max(e => ((long)e.StartLba + e.SectorCount) * SectorSize);
    }

    private static Dictionary<long, byte[]> ReadSectors(OpenedSource opened, IEnumerable<long> sectors)
    {
        using var stream = opened.OpenRandomAccess!();
        var result = new Dictionary<long, byte[]>();
        foreach (var lba in sectors.Order())
        {
            var bytes = new byte[SectorSize];
            stream.Position = lba * SectorSize;
            stream.ReadExactly(bytes);
            result[lba] = bytes;
        }
        return result;
    }

    /// <summary>Reads a bmap file; a damaged one (its own checksum included) is corrupt input, told apart from a damaged image.</summary>
    public static BlockMap ReadBmap(string path)
    {
        try
        {
            return BmapReader.Read(path);
        }
        catch (ImageToolsException e) when (e.Kind == ErrorKind.ChecksumMismatch)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, e.Message, e) { Path = path };
        }
    }

    private static void RequireNotContainer(PartitionTable table, DiskPartition partition, string name)
    {
        if (!partition.IsContainer)
        {
            return;
        }
        var logicals = table.Partitions.Where(p => p.Kind == PartitionKind.Logical).Select(p => p.Number).ToList();
        throw new ImageToolsException(ErrorKind.InvalidArgument,
            $"{name}: partition {partition.Number} is the extended partition, a container of " +
            (logicals.Count == 0 ? "no logical partition" : $"the logical partitions {string.Join(", ", logicals)}") +
            ", not a file system; give the number of a logical partition") { Path = name };
    }

    private static string DisplayName(string path) => path == SourceOpener.StdinName ? "stdin" : path;
}
