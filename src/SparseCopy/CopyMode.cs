using System.Globalization;
using System.Text.Json;
using ImageTools.CommandLineSupport;
using ImageTools.Core;
using ImageTools.Core.Containers;
using ImageTools.Core.Platform;
using ImageTools.Core.Sparse;
using ImageTools.Core.Streams;

namespace ImageTools.SparseCopy;

/// <summary>The default mode: copy SOURCE to DEST, then print v0.10's final line (or JSON).</summary>
public static class CopyMode
{
    public static int Run(SparseCopyArguments args, Interruption interruption)
    {
        var request = new CopyRequest
        {
            Source = args.Source,
            Destination = args.Destination,
            Decompress = !args.NoDecompress,
            SourceOffset = args.Skip,
            Overlay = args.Overlay,
            FinalSize = args.FinalSize,
            SourcePartition = args.SourcePartition,
            DestinationPartition = args.DestinationPartition,
            GrowLastPartition = args.Grow,
            BmapPath = args.BmapPath,
            OutputFormat = args.OutputFormat,
            OutputCompression = args.OutputCompression,
            Options = new SparseCopyOptions
            {
                BlockSize = (int)args.BlockSize,
                MaxBytes = args.MaxBytes,
                FailIfSourceExceedsMax = args.FailIfMore,
                DestinationOffset = args.Seek,
                BlankCheck = args.NoBlankCheck ? BlankCheckMode.Off : args.BlankCheck,
                RequireBlankFirstBlock = args.CheckFirstBlock,
                SyncEvery = args.SyncEvery,
                Verify = args.Verify,
            },
        };

        ProgressPrinter? printer = args.Progress ? new ProgressPrinter(Console.Error, !Console.IsErrorRedirected) : null;
        CopyProgress last = default;
        var progress = printer == null ? null : new RelayProgress(p =>
        {
            last = p;
            printer.Report(p);
        });

        CopyOutcome outcome;
        try
        {
            outcome = CopyJob.Run(request, progress, target => interruption.OnForcedExit(target.Abort), interruption.Token);
        }
        finally
        {
            if (printer != null && last.Elapsed > TimeSpan.Zero)
            {
                printer.Finish(last);
            }
        }

        if (outcome.Completion.PartitionReread == PartitionRereadResult.StillBusy)
        {
            Console.Error.WriteLine($"sparsecopy: warning: {args.Destination}: the kernel could not re-read the partition table (a partition is still in use after {BlockDeviceCopyTarget.RereadAttempts} tries); run 'partprobe {args.Destination}' or reboot before using the new partitions");
        }

        if (!args.Quiet && !args.Json)
        {
            foreach (var note in Notes(args, outcome.Disk))
            {
                Console.Error.WriteLine($"sparsecopy: {note}");
            }
        }

        var s = outcome.Statistics;
        if (args.Json)
        {
            // JSON goes to stdout, unless stdout is DEST.
            using var stream = args.Destination == SourceOpener.StdinName ? Console.OpenStandardError() : Console.OpenStandardOutput();
            WriteJson(stream, args, outcome);
        }
        else if (!args.Quiet)
        {
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"sparsecopy: total bytes = {s.TotalBytes} (real = {s.WrittenBytes}, sparse = {s.SparseBytes}), nonzerodest = {s.NonZeroDestBytes}"));
            if (outcome.SourceContainer != ContainerFormat.Raw || outcome.DestinationContainer != ContainerFormat.Raw)
            {
                Console.Error.WriteLine(ContainerLine(outcome, args));
            }
        }
        return ExitCodes.Success;
    }

    /// <summary>The second summary line when a container is involved: what was read and written, sizes in bytes.</summary>
    public static string ContainerLine(CopyOutcome outcome, SparseCopyArguments args)
    {
        var c = CultureInfo.InvariantCulture;
        var from = ContainerFormats.NameOf(outcome.SourceContainer);
        var to = ContainerFormats.NameOf(outcome.DestinationContainer)
                 + (args.OutputCompression != ClusterCompression.None ? $" ({ContainerFormats.NameOf(args.OutputCompression)}-compressed clusters)" : "");
        var size = outcome.DestinationVirtualSize ?? outcome.Statistics.TotalBytes;
        var written = outcome.DestinationContainerBytes is { } bytes ? string.Create(c, $", container file {bytes} bytes") : "";
        return string.Create(c, $"sparsecopy: container {from} -> {to}, virtual size = {size}{written}");
    }

    private static void WriteJson(Stream stream, SparseCopyArguments args, CopyOutcome outcome)
    {
        var s = outcome.Statistics;
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("source", args.Source);
        json.WriteString("destination", args.Destination);
        json.WriteString("sourceCompression", Compression.NameOf(outcome.SourceFormat));
        json.WriteString("sourceContainer", ContainerFormats.NameOf(outcome.SourceContainer));
        json.WriteString("container", ContainerFormats.NameOf(outcome.DestinationContainer));
        if (args.OutputCompression != ClusterCompression.None)
        {
            json.WriteString("clusterCompression", ContainerFormats.NameOf(args.OutputCompression));
        }
        json.WriteNumber("virtualSize", outcome.DestinationVirtualSize ?? s.TotalBytes);
        if (outcome.DestinationContainerBytes is { } containerBytes)
        {
            json.WriteNumber("containerBytes", containerBytes);
        }
        json.WriteNumber("totalBytes", s.TotalBytes);
        json.WriteNumber("realBytes", s.WrittenBytes);
        json.WriteNumber("sparseBytes", s.SparseBytes);
        json.WriteNumber("nonZeroDestBytes", s.NonZeroDestBytes);
        json.WriteNumber("zeroedByOsBytes", s.ZeroedByOsBytes);
        json.WriteNumber("bytesRead", s.SourceBytesRead);
        json.WriteNumber("blankCheckBytesRead", s.BlankCheckBytesRead);
        json.WriteNumber("elapsedSeconds", Math.Round(s.Elapsed.TotalSeconds, 6));
        if (s.SourceSha256 != null)
        {
            json.WriteString("sha256", s.SourceSha256);
            json.WriteBoolean("verified", s.SourceSha256 == s.DestinationSha256);
        }
        WriteDiskJson(json, outcome.Disk);
        if (outcome.Completion.PartitionReread is { } reread)
        {
            json.WriteString("partitionTableReread", reread switch
            {
                PartitionRereadResult.Done => "done",
                PartitionRereadResult.StillBusy => "busy",
                _ => "not-supported",
            });
        }
        json.WriteEndObject();
        json.Flush();
        stream.WriteByte((byte)'\n');
    }

    /// <summary>What the partition options did, in sentences: what was left out, how the table grew, what to do next.</summary>
    public static List<string> Notes(SparseCopyArguments args, DiskCopyReport disk)
    {
        var notes = new List<string>();
        var c = CultureInfo.InvariantCulture;
        if (disk.CopiedUpTo is { } upTo && disk.LastPartition is { } last)
        {
            var rest = disk.SourceLength is { } length ? string.Create(c, $"; the last {length - upTo} bytes of SOURCE lie outside every partition and were not copied") : "";
            notes.Add(string.Create(c,
                $"DEST is smaller than SOURCE: copied only the first {upTo} bytes ({HumanSize.Format(upTo)}), up to the end of {last.Describe()}{(last.IsContainer ? " (extended)" : "")}{rest}"));
        }
        else if (disk.SourceWentPastDestination && disk.CopiedUpTo is { } cut)
        {
            notes.Add(string.Create(c,
                $"SOURCE goes on past DEST's end: copied its first {cut} bytes ({HumanSize.Format(cut)}), which hold every partition; the rest lies outside them and was not copied"));
        }
        if (disk.Growth is { } g)
        {
            var what = g.ExtendedPartitionNumber is { } extended
                ? $"logical partition {g.PartitionNumber} and extended partition {extended}"
                : $"partition {g.PartitionNumber}";
            var node = ListMode.NodeName(args.Destination, g.PartitionNumber);
            var how = args.Destination.StartsWith("/dev/", StringComparison.Ordinal)
                ? $"e.g. 'resize2fs {node}' for ext2/3/4"
                : $"for an image file e.g. 'sparsecopy --partition {g.PartitionNumber} {args.Destination} part.img && resize2fs part.img && sparsecopy --to-partition {g.PartitionNumber} part.img {args.Destination}'";
            var limited = g.LimitedByMbr ? "; an MBR partition cannot be larger than 2 TiB, so it stops short of DEST's end" : "";
            notes.Add(string.Create(c,
                $"grew {what} to the end of DEST: partition {g.PartitionNumber} is now sectors {g.StartSector}-{g.NewEndSector}, {HumanSize.Format(g.NewSectorCount * 512)} (was {g.StartSector}-{g.OldEndSector}, {HumanSize.Format(g.OldSectorCount * 512)}){limited}"));
            notes.Add($"the file system inside partition {g.PartitionNumber} still has its old size: grow it with resize2fs (or the tool of its file system), {how}");
        }
        else if (disk.NothingToGrow)
        {
            notes.Add("--grow: the last partition already reaches DEST's end; nothing to grow");
        }
        if (disk.Gpt is { } gpt)
        {
            var from = gpt.OldBackupHeaderLba is { } old ? $" from sector {old.ToString(c)}" : "";
            var cleared = gpt.ClearedOldBackupLba is { } sector ? $"; the old backup header's sector {sector.ToString(c)} was cleared" : "";
            notes.Add(string.Create(c,
                $"GPT rewritten for DEST's size: backup header moved{from} to DEST's last sector {gpt.BackupHeaderLba}, backup entries before it, primary header and protective MBR updated{cleared}"));
            if (gpt.Grown is { } gg)
            {
                var node = ListMode.NodeName(args.Destination, gg.PartitionNumber);
                var how = args.Destination.StartsWith("/dev/", StringComparison.Ordinal)
                    ? $"e.g. 'resize2fs {node}' for ext2/3/4"
                    : $"for an image file e.g. 'sparsecopy --partition {gg.PartitionNumber} {args.Destination} part.img && resize2fs part.img && sparsecopy --to-partition {gg.PartitionNumber} part.img {args.Destination}'";
                notes.Add(string.Create(c,
                    $"grew partition {gg.PartitionNumber} to the end of DEST: it is now sectors {gg.StartSector}-{gg.NewEndSector}, {HumanSize.Format(gg.NewSectorCount * 512)} (was {gg.StartSector}-{gg.OldEndSector}, {HumanSize.Format(gg.OldSectorCount * 512)})"));
                notes.Add($"the file system inside partition {gg.PartitionNumber} still has its old size: grow it with resize2fs (or the tool of its file system), {how}");
            }
        }
        return notes;
    }

    private static void WriteDiskJson(Utf8JsonWriter json, DiskCopyReport disk)
    {
        if (disk.SourcePartition is { } from)
        {
            json.WriteNumber("sourcePartition", from.Number);
        }
        if (disk.DestinationPartition is { } to)
        {
            json.WriteNumber("destinationPartition", to.Number);
        }
        if (disk.CopiedUpTo is { } upTo)
        {
            json.WriteNumber("copiedUpTo", upTo);
            if (disk.LastPartition is { } last)
            {
                json.WriteNumber("lastPartition", last.Number);
            }
        }
        if (disk.Growth is { } g)
        {
            json.WriteStartObject("grown");
            json.WriteNumber("partition", g.PartitionNumber);
            if (g.ExtendedPartitionNumber is { } extended)
            {
                json.WriteNumber("extendedPartition", extended);
            }
            json.WriteNumber("startSector", g.StartSector);
            json.WriteNumber("oldEndSector", g.OldEndSector);
            json.WriteNumber("newEndSector", g.NewEndSector);
            json.WriteBoolean("limitedByMbr", g.LimitedByMbr);
            json.WriteEndObject();
        }
        else if (disk.Gpt?.Grown is { } gg)
        {
            json.WriteStartObject("grown");
            json.WriteNumber("partition", gg.PartitionNumber);
            json.WriteNumber("startSector", gg.StartSector);
            json.WriteNumber("oldEndSector", gg.OldEndSector);
            json.WriteNumber("newEndSector", gg.NewEndSector);
            json.WriteBoolean("limitedByMbr", false);
            json.WriteEndObject();
        }
        else if (disk.NothingToGrow)
        {
            json.WriteNull("grown");
        }
        if (disk.Gpt is { } gpt)
        {
            json.WriteStartObject("gpt");
            if (gpt.OldBackupHeaderLba is { } old)
            {
                json.WriteNumber("oldBackupHeaderLba", old);
            }
            else
            {
                json.WriteNull("oldBackupHeaderLba");
            }
            json.WriteNumber("backupHeaderLba", gpt.BackupHeaderLba);
            json.WriteEndObject();
        }
        if (disk.Bmap is { } map)
        {
            json.WriteStartObject("bmap");
            json.WriteString("file", map.Source);
            json.WriteNumber("blockSize", map.BlockSize);
            json.WriteNumber("mappedBlocksCount", map.MappedBlocksCount);
            json.WriteNumber("mappedBytes", map.MappedBytes);
            json.WriteNumber("ranges", map.Ranges.Count);
            json.WriteBoolean("rangesVerified", true);
            if (disk.BmapRangesVerifiedOnDestination)
            {
                json.WriteBoolean("destinationVerified", true);
            }
            json.WriteEndObject();
        }
    }

    /// <summary>Calls back synchronously on the copying thread (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class RelayProgress(Action<CopyProgress> report) : IProgress<CopyProgress>
    {
        public void Report(CopyProgress value) => report(value);
    }
}
