using System.Globalization;
using System.Text.Json;
using ImageTools.Core;
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
            outcome = CopyJob.Run(request, progress, interruption.Watch, interruption.Token);
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
        }
        return ExitCodes.Success;
    }

    private static void WriteJson(Stream stream, SparseCopyArguments args, CopyOutcome outcome)
    {
        var s = outcome.Statistics;
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("source", args.Source);
        json.WriteString("destination", args.Destination);
        json.WriteString("sourceCompression", Compression.NameOf(outcome.SourceFormat));
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

    /// <summary>Calls back synchronously on the copying thread (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class RelayProgress(Action<CopyProgress> report) : IProgress<CopyProgress>
    {
        public void Report(CopyProgress value) => report(value);
    }
}
