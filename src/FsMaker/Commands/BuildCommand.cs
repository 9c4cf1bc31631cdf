using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ImageTools.Core;
using ImageTools.Core.Boot;
using ImageTools.Core.Ext.Writer;
using ImageTools.Core.Hygiene;
using ImageTools.Core.Imaging;

namespace ImageTools.FsMaker.Commands;

/// <summary>
/// The default command, <c>fsmaker [options] ROOTIMAGE OUTPUTIMAGE</c> (v0.05's command line): a bootable MBR disk
/// image from a root filesystem (docs/fsmaker.md "build"). Thin: parses options into
/// <see cref="BootableDiskOptions"/>, runs <see cref="BootableDiskBuilder"/>, prints progress and a summary on
/// stderr (or JSON on stdout), and maps failures to the documented exit codes.
/// </summary>
internal static class BuildCommand
{
    /// <summary>Adds ROOTIMAGE, OUTPUTIMAGE, the build options and the action to the root command.</summary>
    public static void AddTo(RootCommand command)
    {
        var rootImage = new Argument<string>("ROOTIMAGE")
        {
            Description = "The root filesystem: an ext2/3/4 image (copied bit for bit; gzip, zstd, xz and bzip2 are unpacked on the fly), a directory, or a tar archive",
        };
        var outputImage = new Argument<string>("OUTPUTIMAGE") { Description = "The disk image to write (sparse; replaced atomically when complete)" };
        var kernel = new Option<string?>("--kernel", "-k") { HelpName = "KERNEL", Description = "A kernel to put on the boot partition and boot by default (default: the kernels inside the root filesystem)" };
        var initrd = new Option<string?>("--initrd", "-i") { HelpName = "INITRD", Description = "The initrd of the -k kernel" };
        var size = new Option<string?>("--size", "-s") { HelpName = "SIZE", Description = "Total disk size, e.g. 2G, 512M (K/M/G/T are powers of 1024; a bare number is bytes). Default: just large enough, rounded up to a MiB" };
        var noKernel = new Option<bool>("--no-kernel") { Description = "Install GRUB with an empty menu when there is no kernel (instead of failing)" };
        var rootDevice = new Option<string?>("--root-device") { HelpName = "DEVICE", Description = "What root= names on the kernel command line, e.g. /dev/vda1 or LABEL=root (default: UUID=<the root filesystem's UUID>)" };
        var cmdline = new Option<string?>("--cmdline") { HelpName = "ARGS", Description = "Arguments appended to the kernel command line" };
        var noConsole = new Option<bool>("--no-default-console") { Description = "Leave out console=tty0 console=ttyS0,115200 from the kernel command line" };
        var timeout = new Option<int>("--timeout") { HelpName = "SECONDS", Description = "Seconds the GRUB menu waits before booting the default entry", DefaultValueFactory = _ => 1 };
        var fsType = new Option<string?>("--fs-type", "-t") { Description = "For a directory or tar ROOTIMAGE: the filesystem to build, ext4 (default), ext3 or ext2" };
        fsType.AcceptOnlyFromAmong("ext2", "ext3", "ext4");
        var label = new Option<string?>("--label", "-L") { HelpName = "TEXT", Description = "For a directory or tar ROOTIMAGE: the root filesystem's label (at most 16 bytes)" };
        var uuid = new Option<string?>("--uuid", "-U") { HelpName = "UUID", Description = "For a directory or tar ROOTIMAGE: the root filesystem's UUID (default: random, or derived from the input under SOURCE_DATE_EPOCH)" };
        var owner = new Option<string?>("--owner") { HelpName = "UID:GID", Description = "For a directory or tar ROOTIMAGE: UID:GID owning every file (e.g. 0:0 for a tree unpacked as a normal user)" };
        var epoch = new Option<string?>("--source-date-epoch") { HelpName = "SECONDS", Description = "Clamp timestamps to this time (seconds since 1970) and derive every identifier from the input, for identical output from identical input; default: $SOURCE_DATE_EPOCH" };
        var grubDir = new Option<string?>("--grub-dir") { HelpName = "DIR", Description = $"GRUB's i386-pc platform directory (default: $GRUB_DIR, else {GrubPlatformDirectory.DefaultPath})" };
        var grubModules = new Option<string>("--grub-modules") { Description = "GRUB modules on the boot partition: all (default, as grub-install) or minimal (what the menu needs)", DefaultValueFactory = _ => "all" };
        grubModules.AcceptOnlyFromAmong("all", "minimal");
        var scrub = new Option<bool>("--scrub") { Description = "Scrub the root filesystem in the disk as 'fsmaker scrub' does (every default operation: passwords, ssh-hostkeys, machine-id, logs...; see 'fsmaker scrub --list')" };
        var scrubOperations = new Option<string?>("--scrub-operations")
        {
            HelpName = "LIST",
            Description = "With --scrub: the operations, as 'fsmaker scrub --operations' takes them (names, -name to leave one out, defaults, none)",
        };
        var scrubRemove = new Option<string[]>("--scrub-remove")
        {
            HelpName = "PATH",
            Description = "With --scrub: a path inside the root filesystem to remove, as 'fsmaker scrub --remove' (repeatable; globs allowed)",
            AllowMultipleArgumentsPerToken = false,
        };
        var firstBoot = new Option<bool>("--first-boot") { Description = "Install the first-boot script: at the first start, the account's password from the metadata service, new SSH host keys and machine-id" };
        var metadataUrl = new Option<string?>("--metadata-url") { HelpName = "URL", Description = $"With --first-boot: where the script fetches the initial password (default {ImageTools.Core.Hygiene.FirstBoot.FirstBootOptions.DefaultMetadataUrl})" };
        var firstBootUser = new Option<string?>("--first-boot-user") { HelpName = "USER", Description = "With --first-boot: the account whose password the script sets (default root)" };
        var firstBootInit = new Option<string?>("--first-boot-init") { HelpName = "INIT", Description = "With --first-boot: how the script is started: auto (default), systemd, sysv or busybox" };
        var customizeOptions = CustomizeCommand.OperationOptions.Select(o => new Option<string[]>("--customize-" + o.Name)
        {
            HelpName = o.Value,
            Description = $"As 'fsmaker customize --{o.Name}' on the root filesystem in the disk, before --scrub (repeatable; all --customize options run in the order given)",
            AllowMultipleArgumentsPerToken = false,
        }).ToList();
        var customizeFile = new Option<string[]>("--customize")
        {
            HelpName = "FILE",
            Description = "Customize operations from FILE, one per line as virt-customize's --commands-from-file has them, run on the root filesystem in the disk before --scrub",
            AllowMultipleArgumentsPerToken = false,
        };
        var customizeOwner = new Option<string?>("--customize-owner") { HelpName = "USER[:GROUP]", Description = "Owner of what --customize-copy-in makes (default root)" };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON on stdout" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress or summary on stderr" };

        foreach (var argument in new[] { rootImage, outputImage })
        {
            command.Arguments.Add(argument);
        }
        foreach (var option in new Option[] { kernel, initrd, size, noKernel, rootDevice, cmdline, noConsole, timeout, fsType, label, uuid, owner, epoch, grubDir, grubModules,
                     scrub, scrubOperations, scrubRemove, firstBoot, metadataUrl, firstBootUser, firstBootInit, json, quiet })
        {
            command.Options.Add(option);
        }

        foreach (var option in customizeOptions.Cast<Option>().Append(customizeFile).Append(customizeOwner))
        {
            command.Options.Add(option);
        }

        command.SetAction((parse, cancellation) => Task.FromResult(Guarded(() =>
        {
            var customizeOperations = CustomizeCommand.InOrder(parse, customizeOptions.Cast<Option>().Append(customizeFile).ToList(), customizeFile, "--customize-");
            if (customizeOperations.Count == 0 && parse.GetValue(customizeOwner) != null)
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument, "--customize-owner goes with --customize-copy-in (or a copy-in line of --customize FILE)");
            }
            IRootFilesystemStep[] customizeSteps = customizeOperations.Count > 0
                ? [new ImageTools.Core.Customization.CustomizeRootStep(customizeOperations, parse.GetValue(customizeOwner))]
                : [];
            var (grubPath, grubOrigin) = GrubPlatformDirectory.Choose(parse.GetValue(grubDir), Environment.GetEnvironmentVariable(GrubPlatformDirectory.EnvironmentVariable));
            var options = new BootableDiskOptions
            {
                RootPath = parse.GetValue(rootImage)!,
                OutputPath = parse.GetValue(outputImage)!,
                GrubDirectory = grubPath,
                GrubDirectoryOrigin = grubOrigin,
                GrubModules = parse.GetValue(grubModules) == "minimal" ? GrubModuleSet.Minimal : GrubModuleSet.All,
                KernelPath = parse.GetValue(kernel),
                InitrdPath = parse.GetValue(initrd),
                NoKernel = parse.GetValue(noKernel),
                DiskSizeBytes = parse.GetValue(size) is { } s ? ByteSize.Parse(s, "--size") : null,
                RootFilesystemType = parse.GetValue(fsType) switch
                {
                    "ext2" => ExtFilesystemType.Ext2,
                    "ext3" => ExtFilesystemType.Ext3,
                    "ext4" => ExtFilesystemType.Ext4,
                    _ => null,
                },
                RootLabel = parse.GetValue(label),
                RootUuid = parse.GetValue(uuid) is { } u ? MkfsCommand.ParseUuid(u) : null,
                RootOwner = parse.GetValue(owner) is { } o ? MkfsCommand.ParseOwner(o) : null,
                SourceDateEpoch = MkfsCommand.ParseEpoch(parse.GetValue(epoch)),
                RootDevice = parse.GetValue(rootDevice),
                ExtraCommandLine = parse.GetValue(cmdline),
                DefaultConsoles = !parse.GetValue(noConsole),
                MenuTimeoutSeconds = parse.GetValue(timeout),
                RootSteps = [.. customizeSteps, .. HygieneSteps(parse.GetValue(scrub), parse.GetValue(scrubOperations), parse.GetValue(scrubRemove) ?? [],
                    parse.GetValue(firstBoot), parse.GetValue(metadataUrl), parse.GetValue(firstBootUser), parse.GetValue(firstBootInit))],
            };
            return Run(options, parse.GetValue(json), parse.GetValue(quiet), cancellation);
        }, cancellation)));
    }

    /// <summary>
    /// --scrub and --first-boot as one root step (one edit of the root filesystem, as 'fsmaker scrub --first-boot'
    /// makes): the scrub's operations first, then the first-boot script. The options that refine them are refused
    /// without them, so that a misspelt command line does not quietly publish an unscrubbed image.
    /// </summary>
    private static IReadOnlyList<IRootFilesystemStep> HygieneSteps(bool scrub, string? operations, string[] remove,
        bool firstBoot, string? metadataUrl, string? user, string? init)
    {
        if (!scrub && (operations != null || remove.Length > 0))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "--scrub-operations and --scrub-remove go with --scrub");
        }
        if (!firstBoot && (metadataUrl != null || user != null || init != null))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "--metadata-url, --first-boot-user and --first-boot-init go with --first-boot");
        }
        if (!scrub && !firstBoot)
        {
            return [];
        }
        var selected = scrub ? OperationSelection.Parse(operations, remove.Length > 0) : [];
        if (scrub && selected.Count == 0 && !firstBoot)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"--scrub-operations '{operations}' selects no operation");
        }
        return
        [
            new ScrubRootStep(new ScrubOptions
            {
                Operations = selected,
                RemovePaths = remove,
                FirstBoot = firstBoot ? ScrubCommand.FirstBootFrom(metadataUrl, user, init) : null,
            }),
        ];
    }

    private static int Guarded(Func<int> action, CancellationToken cancellation)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (e is OperationCanceledException || (e is ImageToolsException && cancellation.IsCancellationRequested)
                                  || e is ImageToolsException { Kind: ErrorKind.Cancelled })
        {
            Console.Error.WriteLine("fsmaker: interrupted; no disk image was written");
            return ExitCodes.Cancelled;
        }
        catch (ImageToolsException e)
        {
            Console.Error.WriteLine($"fsmaker: {e.Message}");
            return ExitCodes.For(e.Kind);
        }
    }

    private static int Run(BootableDiskOptions options, bool json, bool quiet, CancellationToken cancellation)
    {
        // Ctrl-C cancels the build, which removes its temporary file (a build blocked in a read is ended by
        // Program's interruption watchdog, which removes it too).
        var progress = quiet || json || Console.IsErrorRedirected ? null : new TerminalProgress();
        BootableDiskResult result;
        try
        {
            result = BootableDiskBuilder.Build(options, progress, cancellation);
        }
        finally
        {
            progress?.Clear();
        }

        if (json)
        {
            using var stdout = Console.OpenStandardOutput();
            WriteJson(result, stdout);
        }
        else if (!quiet)
        {
            Console.Error.Write(Summary(result));
        }
        return ExitCodes.Success;
    }

    // ---- Output ------------------------------------------------------------------------------------

    internal static string Summary(BootableDiskResult r)
    {
        var text = new System.Text.StringBuilder();
        string Size(long bytes) => ImageReportFormatter.Size(bytes);
        text.Append(CultureInfo.InvariantCulture, $"fsmaker: {r.OutputPath}: bootable MBR disk, {Size(r.DiskSizeBytes)}{(r.SizeWasComputed ? " (sized to the content)" : "")}, disk signature 0x{r.DiskSignature:x8}");
        if (r.AllocatedBytes is long allocated)
        {
            text.Append(CultureInfo.InvariantCulture, $", {Size(allocated)} allocated");
        }
        text.Append('\n');
        foreach (var p in r.Partitions)
        {
            text.Append(CultureInfo.InvariantCulture,
                $"  partition {p.Number} ({p.Role}): sectors {p.StartSector}-{p.StartSector + p.SectorCount - 1}, {Size(p.SectorCount * 512)}, {p.FilesystemType}, UUID {p.Uuid}{(p.Label.Length > 0 ? $", label \"{p.Label}\"" : "")}\n");
            if (p.Role == "boot")
            {
                var kernel = r.BootEntries.Any(e => e.Source == GrubFileSource.BootPartition) ? ", the -k kernel" : "";
                var initrd = r.BootEntries.Any(e => e.Source == GrubFileSource.BootPartition && e.InitrdPath != null) ? " and initrd" : "";
                text.Append(CultureInfo.InvariantCulture, $"    GRUB's files ({r.GrubFiles} modules and lists from {r.GrubDirectory}), grub.cfg{kernel}{initrd}\n");
            }
            else if (r.RootBuild is { } b)
            {
                text.Append(CultureInfo.InvariantCulture,
                    $"    built from {r.Root}: {b.RegularFiles} files, {b.Directories} directories, {b.SymbolicLinks} symlinks, {b.HardLinks} hard links, {b.SpecialFiles} special files, {Size(b.ContentBytes)}\n");
            }
            else if (r.RootCopy is { } c)
            {
                text.Append(CultureInfo.InvariantCulture,
                    $"    copied from {r.Root}: {Size(c.TotalBytes)}, {Size(c.WrittenBytes)} written, {Size(c.SparseBytes)} left as holes\n");
            }
        }
        foreach (var (step, report) in r.StepReports)
        {
            text.Append("  ").Append(step).Append('\n');
            foreach (var line in report)
            {
                text.Append("    ").Append(line).Append('\n');
            }
        }
        text.Append(CultureInfo.InvariantCulture,
            $"  GRUB: core image of {r.CoreImage.SectorCount} sectors at LBA {r.CoreImage.Lba} ({string.Join(' ', r.CoreImage.Modules)}), prefix {r.CoreImage.Prefix}\n");
        if (r.BootEntries.Count == 0)
        {
            text.Append("  boot menu: no entries (--no-kernel): GRUB stops at its command line\n");
        }
        for (var i = 0; i < r.BootEntries.Count; i++)
        {
            var e = r.BootEntries[i];
            var from = e.Source == GrubFileSource.BootPartition ? "boot partition" : "root filesystem";
            text.Append(CultureInfo.InvariantCulture, $"  {(i == 0 ? "boot menu:" : "          ")} '{e.Title}': {e.KernelPath}{(e.InitrdPath != null ? $" + {e.InitrdPath}" : "")} from the {from}{(i == 0 ? " (default)" : "")}\n");
        }
        if (r.BootEntries.Count > 0)
        {
            text.Append("  kernel command line: ").Append(r.BootEntries[0].CommandLine).Append('\n');
        }
        foreach (var warning in r.Warnings)
        {
            text.Append("  warning: ").Append(warning).Append('\n');
        }
        text.Append(CultureInfo.InvariantCulture, $"  ({r.Elapsed.TotalSeconds:F1} s)\n");
        return text.ToString();
    }

    internal static void WriteJson(BootableDiskResult r, Stream output)
    {
        using (var w = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("output", r.OutputPath);
            w.WriteNumber("sizeBytes", r.DiskSizeBytes);
            w.WriteBoolean("sizeComputed", r.SizeWasComputed);
            if (r.AllocatedBytes is long allocated)
            {
                w.WriteNumber("allocatedBytes", allocated);
            }
            else
            {
                w.WriteNull("allocatedBytes");
            }
            w.WriteString("diskSignature", $"0x{r.DiskSignature:x8}");
            w.WriteStartObject("root");
            w.WriteString("path", r.Root.Path);
            w.WriteString("kind", r.Root.Kind switch
            {
                RootInputKind.Directory => "directory",
                RootInputKind.TarArchive => "tar",
                _ => "image",
            });
            w.WriteString("compression", ImageTools.Core.Streams.Compression.NameOf(r.Root.Compression));
            if (r.RootBuild is { } b)
            {
                w.WriteNumber("regularFiles", b.RegularFiles);
                w.WriteNumber("directories", b.Directories);
                w.WriteNumber("symbolicLinks", b.SymbolicLinks);
                w.WriteNumber("hardLinks", b.HardLinks);
                w.WriteNumber("specialFiles", b.SpecialFiles);
                w.WriteNumber("contentBytes", b.ContentBytes);
            }
            if (r.RootCopy is { } c)
            {
                w.WriteNumber("copiedBytes", c.TotalBytes);
                w.WriteNumber("writtenBytes", c.WrittenBytes);
                w.WriteNumber("sparseBytes", c.SparseBytes);
                w.WriteNumber("bytesRead", c.SourceBytesRead);
            }
            w.WriteEndObject();
            w.WriteStartArray("partitions");
            foreach (var p in r.Partitions)
            {
                w.WriteStartObject();
                w.WriteNumber("number", p.Number);
                w.WriteString("role", p.Role);
                w.WriteNumber("startSector", p.StartSector);
                w.WriteNumber("sectorCount", p.SectorCount);
                w.WriteString("filesystem", p.FilesystemType);
                w.WriteNumber("filesystemBytes", p.FilesystemBytes);
                w.WriteString("uuid", p.Uuid);
                w.WriteString("label", p.Label);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("grub");
            w.WriteString("directory", r.GrubDirectory);
            w.WriteNumber("coreImageLba", r.CoreImage.Lba);
            w.WriteNumber("coreImageSectors", r.CoreImage.SectorCount);
            w.WriteStartArray("coreImageModules");
            foreach (var m in r.CoreImage.Modules)
            {
                w.WriteStringValue(m);
            }
            w.WriteEndArray();
            w.WriteString("prefix", r.CoreImage.Prefix);
            w.WriteNumber("bootPartitionFiles", r.GrubFiles);
            w.WriteEndObject();
            w.WriteStartArray("bootEntries");
            foreach (var e in r.BootEntries)
            {
                w.WriteStartObject();
                w.WriteString("title", e.Title);
                w.WriteString("kernel", e.KernelPath);
                if (e.InitrdPath != null)
                {
                    w.WriteString("initrd", e.InitrdPath);
                }
                else
                {
                    w.WriteNull("initrd");
                }
                w.WriteString("from", e.Source == GrubFileSource.BootPartition ? "boot" : "root");
                w.WriteString("commandLine", e.CommandLine);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("steps");
            foreach (var (step, report) in r.StepReports)
            {
                w.WriteStartObject();
                w.WriteString("step", step);
                w.WriteStartArray("report");
                foreach (var line in report)
                {
                    w.WriteStringValue(line);
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("warnings");
            foreach (var warning in r.Warnings)
            {
                w.WriteStringValue(warning);
            }
            w.WriteEndArray();
            w.WriteNumber("seconds", Math.Round(r.Elapsed.TotalSeconds, 3));
            w.WriteEndObject();
        }
        output.Write("\n"u8);
    }

    /// <summary>One live line on a terminal, redrawn at most four times a second; cleared before anything else is printed.</summary>
    private sealed class TerminalProgress : IProgress<BootableDiskProgress>
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private long _last = -1000;
        private int _width;
        private BootableDiskStage? _stage;

        public void Report(BootableDiskProgress value)
        {
            var now = _clock.ElapsedMilliseconds;
            if (now - _last < 250 && value.Stage == _stage)
            {
                return;
            }
            _last = now;
            _stage = value.Stage;
            var amount = value.TotalBytes is long total && total > 0
                ? string.Create(CultureInfo.InvariantCulture, $"{ImageReportFormatter.Size(value.Bytes)} of {ImageReportFormatter.Size(total)} ({100.0 * value.Bytes / total:0}%)")
                : value.Entries > 0 || value.Bytes > 0
                    ? string.Create(CultureInfo.InvariantCulture, $"{value.Entries} entries, {ImageReportFormatter.Size(value.Bytes)}")
                    : "";
            var line = $"fsmaker: {value.What}{(amount.Length > 0 ? ": " + amount : "")}";
            Console.Error.Write("\r" + line.PadRight(_width));
            _width = line.Length;
        }

        public void Clear()
        {
            if (_width > 0)
            {
                Console.Error.Write("\r" + new string(' ', _width) + "\r");
                _width = 0;
            }
        }
    }
}
