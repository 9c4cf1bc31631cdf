using ImageTools.Core.Platform;
using System.CommandLine;
using System.Globalization;
using System.IO.Compression;
using ImageTools.Core;
using ImageTools.Core.Ext.Reader;
using ImageTools.Core.Ext.Writer;
using ImageTools.Core.Imaging;
using ImageTools.Core.Imaging.Export;

namespace ImageTools.FsMaker.Commands;

/// <summary>
/// <c>fsmaker export IMAGE[:PARTITION] DEST.tar|DIR</c>: the whole filesystem as a pax tar archive
/// (.tar, .tar.gz, .tar.zst, or - for stdout) or restored into an empty directory, keeping types,
/// modes, owners, times with nanoseconds, hard links, device numbers and xattrs.
/// </summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var image = new Argument<string>("IMAGE") { Description = "An ext2/3/4 image, or a disk image with :N for partition N (e.g. disk.img:1); may be compressed" };
        var destination = new Argument<string>("DEST") { Description = "A tar archive (name ending in .tar, .tar.gz/.tgz, .tar.zst; - for stdout), or a new or empty directory" };
        var path = new Option<string>("--path", "-p") { Description = "Export only this directory (or file) of the filesystem", DefaultValueFactory = _ => "/" };
        var keepGoing = ImageReadingSupport.KeepGoingOption();
        var staleJournal = ImageReadingSupport.StaleJournalOption();
        var noChecksums = ImageReadingSupport.NoChecksumsOption();
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No summary on stderr" };
        var command = new Command("export", "Export a whole ext2/3/4 filesystem to a tar archive or a directory")
        {
            image, destination, path, keepGoing, staleJournal, noChecksums, quiet,
        };
        command.SetAction((parse, cancellation) => Task.FromResult(ImageReadingSupport.Guarded(() =>
        {
            var dest = parse.GetValue(destination)!;
            var (imagePath, _) = ExtImageOpener.ParseSpecification(parse.GetValue(image)!);
            if (dest == "-")
            {
                PlatformIo.Current.RefuseStdoutIsInput(imagePath, "IMAGE");
            }
            else
            {
                PlatformIo.Current.RefuseOutputIsInput(imagePath, "IMAGE", dest, "DEST");
            }
            using var opened = ExtImageOpener.Open(parse.GetValue(image)!, ImageReadingSupport.OpenOptions(parse, staleJournal, noChecksums), cancellation);
            // A live count on a terminal (cleared before any other message), nothing when stderr is redirected.
            var progress = parse.GetValue(quiet) || Console.IsErrorRedirected ? null : new TerminalProgress();
            var options = new ExtExportOptions
            {
                SourcePath = parse.GetValue(path)!,
                KeepGoing = parse.GetValue(keepGoing),
                OnProblem = p =>
                {
                    progress?.Clear();
                    ImageReadingSupport.Problem(p);
                },
                Progress = progress,
                CancellationToken = cancellation,
            };
            void Notice(string message)
            {
                progress?.Clear();
                ImageReadingSupport.Note(message);
            }
            ExtExportSummary summary;
            if (IsArchive(dest))
            {
                summary = ExportToArchive(opened.FileSystem, dest, options, Notice);
            }
            else
            {
                var sink = new DirectoryExportSink(dest, new DirectoryExportOptions { OnNotice = Notice });
                summary = ExtExporter.Export(opened.FileSystem, sink, options);
            }
            progress?.Clear();
            foreach (var warning in opened.FileSystem.Warnings)
            {
                ImageReadingSupport.Warn($"{opened.Description}: {warning}");
            }
            if (!parse.GetValue(quiet))
            {
                var skipped = summary.Problems.Count > 0 ? $"; {summary.Problems.Count} damaged entries skipped" : "";
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"fsmaker: exported {opened.Description} to {dest}: {Count(summary.Files, "file")} ({ImageReportFormatter.Size(summary.ContentBytes)}), {Count(summary.Directories, "directory", "directories")}, {Count(summary.SymbolicLinks, "symlink")}, {Count(summary.HardLinks, "hard link")}, {Count(summary.SpecialFiles, "special file")}{skipped}"));
            }
            return summary.Problems.Count == 0 ? ExitCodes.Success : ExitCodes.CorruptInput;
        })));
        return command;
    }

    private static string Count(long n, string one, string? many = null) =>
        n.ToString(CultureInfo.InvariantCulture) + " " + (n == 1 ? one : many ?? one + "s");

    private static bool IsArchive(string destination) =>
        destination == "-" || destination.EndsWith(".tar", StringComparison.OrdinalIgnoreCase) || destination.EndsWith(".tar.gz", StringComparison.OrdinalIgnoreCase)
        || destination.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase) || destination.EndsWith(".tar.zst", StringComparison.OrdinalIgnoreCase);

    private static ExtExportSummary ExportToArchive(ExtFileSystem fs, string destination, ExtExportOptions options, Action<string> notice)
    {
        if (destination == "-")
        {
            using var stdout = Console.OpenStandardOutput();
            using var sink = new TarExportSink(new BufferedStream(stdout, 1 << 16), notice);
            return ExtExporter.Export(fs, sink, options);
        }
        // Written under a temporary name next to the destination (AtomicOutputFile: an existing archive's mode is
        // kept, a new one is created under the umask) and renamed into place when complete; a failed or
        // interrupted export (Ctrl-C, SIGTERM, SIGHUP) removes it, so no truncated archive is ever left.
        using var output = AtomicOutputFile.Create(destination);
        ExtExportSummary summary;
        try
        {
            var file = new FileStream(output.Handle, FileAccess.ReadWrite, 1 << 16);
            using (var compressed = Compress(file, destination))
            using (var sink = new TarExportSink(compressed, notice, leaveOpen: true))
            {
                summary = ExtExporter.Export(fs, sink, options);
            }
            file.Flush();
        }
        catch (IOException e)
        {
            throw new ImageToolsException(ErrorKind.DestinationUnwritable, $"{destination}: {e.Message}", e) { Path = destination };
        }
        output.Commit();
        return summary;
    }

    private static Stream Compress(Stream file, string destination)
    {
        if (destination.EndsWith(".tar.gz", StringComparison.OrdinalIgnoreCase) || destination.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase))
        {
            return new GZipStream(file, CompressionLevel.Optimal, leaveOpen: true);
        }
        if (destination.EndsWith(".tar.zst", StringComparison.OrdinalIgnoreCase))
        {
            return new ZstdSharp.CompressionStream(file, level: 3, leaveOpen: true);
        }
        return new NonClosingStream(file);
    }

    /// <summary>"exporting: N entries, SIZE" on one terminal line, at most ten times a second.</summary>
    private sealed class TerminalProgress : IProgress<ExtExportProgress>
    {
        private long _lastTicks;
        private bool _shown;

        public void Report(ExtExportProgress value)
        {
            var now = Environment.TickCount64;
            if (now - _lastTicks < 100)
            {
                return;
            }
            _lastTicks = now;
            _shown = true;
            Console.Error.Write(string.Create(CultureInfo.InvariantCulture, $"\rfsmaker: exporting: {value.Entries} entries, {ImageReportFormatter.Size(value.ContentBytes)}\u001b[K"));
        }

        public void Clear()
        {
            if (_shown)
            {
                Console.Error.Write("\r\u001b[K");
                _shown = false;
            }
        }
    }

    /// <summary>Passes writes through; disposing it leaves the file open (the sink owns neither).</summary>
    private sealed class NonClosingStream(Stream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
        public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);
    }
}
