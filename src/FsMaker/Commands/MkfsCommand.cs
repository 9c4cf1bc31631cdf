using ImageTools.Core.Platform;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ImageTools.Core;
using ImageTools.Core.Ext.Sources;
using ImageTools.Core.Ext.Writer;

namespace ImageTools.FsMaker.Commands;

/// <summary>
/// <c>fsmaker mkfs SOURCE IMAGE</c>: an ext4/ext3/ext2 image from a directory or a tar archive, without
/// root, loop devices or mounting (docs/fsmaker.md "mkfs"). Thin: parses options, calls
/// <see cref="ExtFilesystemBuilder"/>, prints progress and a summary on stderr (or JSON on stdout).
/// </summary>
internal static class MkfsCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("SOURCE") { Description = "A directory, or a tar archive (.tar, .tar.gz, .tar.zst, .tar.xz; recognised by content)" };
        var image = new Argument<string>("IMAGE") { Description = "The image file to write (replaced atomically when complete)" };
        var type = new Option<string>("--type", "-t") { Description = "Filesystem type: ext4 (default; the features of mke2fs -t ext4), ext3 (ext2 plus a journal) or ext2", DefaultValueFactory = _ => "ext4" };
        type.AcceptOnlyFromAmong("ext2", "ext3", "ext4");
        var features = new Option<string?>("--features", "-O") { Description = "ext4: turn features off as mke2fs -O does, e.g. ^metadata_csum,^64bit,^flex_bg (also ^has_journal, ^huge_file, ^dir_nlink, ^extra_isize)" };
        var size = new Option<string?>("--size", "-s") { Description = "Filesystem size, e.g. 512M, 2G, 1500000000 (bytes; K/M/G/T are powers of 1024). Default: the content plus headroom" };
        var blockSize = new Option<int?>("--block-size", "-b") { Description = "Block size: 1024, 2048 or 4096 (default: as mke2fs, 1024 below 512 MiB, else 4096)" };
        var inodeSize = new Option<int>("--inode-size", "-I") { Description = "Inode size: 256 (default; nanoseconds, dates past 2038, in-inode xattrs) or 128", DefaultValueFactory = _ => 256 };
        var inodes = new Option<long?>("--inodes", "-N") { Description = "Number of inodes (default: from the size, as mke2fs)" };
        var label = new Option<string?>("--label", "-L") { Description = "Volume label (at most 16 bytes)" };
        var uuid = new Option<string?>("--uuid", "-U") { Description = "Filesystem UUID (default: random, or derived from SOURCE_DATE_EPOCH and the input)" };
        var owner = new Option<string?>("--owner") { Description = "UID:GID owning every file and directory (like genext2fs -U/squash)" };
        var epoch = new Option<string?>("--source-date-epoch") { Description = "Clamp every timestamp to this time (seconds since 1970) and make the image reproducible; default: $SOURCE_DATE_EPOCH" };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON on stdout" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress or summary on stderr" };

        var command = new Command("mkfs", "Make an ext4 (or ext2/ext3) filesystem image from a directory or a tar archive, without root or mounting")
        {
            source, image, type, features, size, blockSize, inodeSize, inodes, label, uuid, owner, epoch, json, quiet,
        };
        command.SetAction((parse, cancellation) => Task.FromResult(Guarded(() =>
        {
            var options = new ExtFilesystemOptions
            {
                Type = ParseType(parse.GetValue(type)),
                SizeBytes = parse.GetValue(size) is { } s ? ByteSize.Parse(s, "--size") : null,
                BlockSize = parse.GetValue(blockSize),
                InodeSize = parse.GetValue(inodeSize),
                InodeCount = parse.GetValue(inodes),
                Label = parse.GetValue(label),
                Uuid = parse.GetValue(uuid) is { } u ? ParseUuid(u) : null,
                SourceDateEpoch = ParseEpoch(parse.GetValue(epoch)),
            };
            if (parse.GetValue(features) is { } f)
            {
                if (options.Type != ExtFilesystemType.Ext4)
                {
                    throw new ImageToolsException(ErrorKind.InvalidArgument, $"-O/--features applies to ext4; {parse.GetValue(type)} has a fixed feature set");
                }
                options = options with { Features = ExtFeatureEdits.Apply(options.Features, f) };
            }
            if (parse.GetValue(owner) is { } o)
            {
                var (uid, gid) = ParseOwner(o);
                options = options with { OwnerUid = uid, OwnerGid = gid };
            }
            return Run(parse.GetValue(source)!, parse.GetValue(image)!, options, parse.GetValue(json), parse.GetValue(quiet), cancellation);
        }, cancellation)));
        return command;
    }

    private static ExtFilesystemType ParseType(string? name) => name switch
    {
        "ext2" => ExtFilesystemType.Ext2,
        "ext3" => ExtFilesystemType.Ext3,
        _ => ExtFilesystemType.Ext4,
    };

    /// <summary>Runs the action, turning expected failures into a message on stderr and their documented exit code.</summary>
    private static int Guarded(Func<int> action, CancellationToken cancellation)
    {
        try
        {
            return action();
        }
        catch (ImageToolsException) when (cancellation.IsCancellationRequested)
        {
            // Ctrl-C made a read fail first (a pipe closed by the same Ctrl-C): report the interruption.
            Console.Error.WriteLine("fsmaker: mkfs interrupted; no image was written");
            return ExitCodes.Cancelled;
        }
        catch (ImageToolsException e)
        {
            Console.Error.WriteLine($"fsmaker: {e.Message}");
            return ExitCodes.For(e.Kind);
        }
    }

    private static int Run(string sourcePath, string imagePath, ExtFilesystemOptions options, bool json, bool quiet, CancellationToken cancellation)
    {
        // Before anything is opened: the image is written under a temporary name and renamed, which would
        // replace a tar archive given as its own output (also through a link) with the image.
        PlatformIo.Current.RefuseOutputIsInput(sourcePath, "SOURCE", imagePath, "IMAGE");
        var source = OpenSource(sourcePath);
        if (File.Exists(imagePath) == false && Directory.Exists(imagePath))
        {
            throw new ImageToolsException(ErrorKind.DestinationUnwritable, $"{imagePath}: is a directory") { Path = imagePath };
        }
        if (File.Exists(imagePath) && (File.GetAttributes(imagePath) & FileAttributes.Device) != 0)
        {
            throw new ImageToolsException(ErrorKind.DestinationUnwritable, $"{imagePath}: is not a regular file; mkfs writes image files") { Path = imagePath };
        }

        // Ctrl-C cancels the build, which removes its temporary file (a build blocked in a read is ended by
        // Program's interruption watchdog, which removes it too).
        var progress = quiet || json || Console.IsErrorRedirected ? null : new StderrProgress();
        var clock = Stopwatch.StartNew();
        ExtBuildResult result;
        try
        {
            result = new ExtFilesystemBuilder(options, progress).BuildImageFile(source, imagePath, cancellation);
        }
        catch (OperationCanceledException)
        {
            progress?.Clear();
            Console.Error.WriteLine("fsmaker: mkfs interrupted; no image was written");
            return ExitCodes.Cancelled;
        }
        finally
        {
            progress?.Clear();
            (source as IDisposable)?.Dispose();
        }
        clock.Stop();

        if (json)
        {
            WriteJson(result, imagePath, sourcePath, clock.Elapsed);
        }
        else if (!quiet)
        {
            var used = result.BlocksCount - result.FreeBlocks;
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"fsmaker: {imagePath}: {result.Type.ToString().ToLowerInvariant()}, {result.SizeBytes / 1048576.0:F1} MiB{(result.SizeWasComputed ? " (sized to the content)" : "")}, " +
                $"{result.BlockSize}-byte blocks, {result.InodesCount} inodes; {result.RegularFiles} files, {result.Directories} directories, " +
                $"{result.SymbolicLinks} symlinks, {result.HardLinks} hard links, {result.SpecialFiles} special files; " +
                $"{used * 100.0 / result.BlocksCount:F1}% used; UUID {result.Uuid} ({clock.Elapsed.TotalSeconds:F1} s)"));
        }
        return ExitCodes.Success;
    }

    private static IFileTreeSource OpenSource(string path)
    {
        if (Directory.Exists(path))
        {
            return new DirectoryTreeSource(path);
        }
        if (File.Exists(path))
        {
            return TarArchiveSource.Open(path);
        }
        throw new ImageToolsException(ErrorKind.NotFound, $"{path}: no such file or directory") { Path = path };
    }

    private static void WriteJson(ExtBuildResult r, string image, string source, TimeSpan elapsed)
    {
        using var stdout = Console.OpenStandardOutput();
        using (var w = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("image", image);
            w.WriteString("source", source);
            w.WriteString("type", r.Type.ToString().ToLowerInvariant());
            w.WriteNumber("sizeBytes", r.SizeBytes);
            w.WriteBoolean("sizeComputed", r.SizeWasComputed);
            w.WriteNumber("blockSize", r.BlockSize);
            w.WriteNumber("inodeSize", r.InodeSize);
            w.WriteNumber("blocks", r.BlocksCount);
            w.WriteNumber("freeBlocks", r.FreeBlocks);
            w.WriteNumber("inodes", r.InodesCount);
            w.WriteNumber("freeInodes", r.FreeInodes);
            w.WriteNumber("groups", r.GroupCount);
            w.WriteNumber("journalBlocks", r.JournalBlocks);
            w.WriteString("uuid", r.Uuid.ToString());
            w.WriteString("hashSeed", r.HashSeed.ToString());
            w.WriteString("label", r.Label);
            w.WriteNumber("regularFiles", r.RegularFiles);
            w.WriteNumber("directories", r.Directories);
            w.WriteNumber("indexedDirectories", r.IndexedDirectories);
            w.WriteNumber("symbolicLinks", r.SymbolicLinks);
            w.WriteNumber("hardLinks", r.HardLinks);
            w.WriteNumber("specialFiles", r.SpecialFiles);
            w.WriteNumber("contentBytes", r.ContentBytes);
            w.WriteNumber("dataBlocks", r.DataBlocks);
            w.WriteNumber("bytesWritten", r.BytesWritten);
            w.WriteNumber("seconds", Math.Round(elapsed.TotalSeconds, 3));
            w.WriteEndObject();
        }
        stdout.Write("\n"u8);
    }

    internal static Guid ParseUuid(string text) =>
        Guid.TryParse(text, out var g)
            ? g
            : throw new ImageToolsException(ErrorKind.InvalidArgument, $"--uuid '{text}' is not a UUID (like 01234567-89ab-cdef-0123-456789abcdef)");

    internal static long? ParseEpoch(string? option)
    {
        var (text, origin) = option != null ? (option, "--source-date-epoch") : (Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH"), "SOURCE_DATE_EPOCH");
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value > uint.MaxValue)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"{origin} '{text}' is not a number of seconds since 1970 (0..4294967295)");
        }
        return value;
    }

    internal static (uint Uid, uint Gid) ParseOwner(string text)
    {
        var parts = text.Split(':');
        if (parts.Length == 2
            && uint.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var uid)
            && uint.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var gid))
        {
            return (uid, gid);
        }
        throw new ImageToolsException(ErrorKind.InvalidArgument, $"--owner '{text}' is not UID:GID (numbers, like 0:0 or 1000:1000)");
    }

    /// <summary>One status line on stderr, rewritten at most five times a second.</summary>
    private sealed class StderrProgress : IProgress<ExtBuildProgress>
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private long _last = -1000;
        private bool _shown;

        public void Report(ExtBuildProgress value)
        {
            var now = _clock.ElapsedMilliseconds;
            if (now - _last < 200)
            {
                return;
            }
            _last = now;
            var line = string.Create(CultureInfo.InvariantCulture, $"{value.Phase}: {value.Entries} entries, {value.Bytes / 1048576.0:F0} MiB");
            Console.Error.Write("\r" + line.PadRight(60));
            _shown = true;
        }

        public void Clear()
        {
            if (_shown)
            {
                Console.Error.Write("\r" + new string(' ', 60) + "\r");
                _shown = false;
            }
        }
    }
}

/// <summary>Sizes on the command line: bytes, or a number with K, M, G, T (powers of 1024; "KiB", "MB" and the like too).</summary>
internal static class ByteSize
{
    public static long Parse(string text, string option)
    {
        var t = text.Trim();
        var i = 0;
        while (i < t.Length && (char.IsAsciiDigit(t[i]) || t[i] == '.'))
        {
            i++;
        }
        var unit = t[i..].Trim().ToUpperInvariant();
        long multiplier = unit switch
        {
            "" or "B" => 1,
            "K" or "KB" or "KIB" => 1L << 10,
            "M" or "MB" or "MIB" => 1L << 20,
            "G" or "GB" or "GIB" => 1L << 30,
            "T" or "TB" or "TIB" => 1L << 40,
            _ => 0,
        };
        if (i == 0 || multiplier == 0 || !decimal.TryParse(t[..i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"{option} '{text}' is not a size (like 512M, 2G or 1073741824)");
        }
        var bytes = number * multiplier;
        if (bytes < 1 || bytes > long.MaxValue)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"{option} '{text}' is out of range");
        }
        return (long)bytes;
    }
}
