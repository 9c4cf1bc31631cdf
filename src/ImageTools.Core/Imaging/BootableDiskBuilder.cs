using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using ImageTools.Core.Boot;
using ImageTools.Core.Ext.OnDisk;
using ImageTools.Core.Ext.Reader;
using ImageTools.Core.Ext.Sources;
using ImageTools.Core.Ext.Writer;
using ImageTools.Core.Partitions;
using ImageTools.Core.Platform;
using ImageTools.Core.Sparse;
using ImageTools.Core.Streams;

namespace ImageTools.Core.Imaging;

/// <summary>
/// The pipeline behind <c>fsmaker ROOTIMAGE OUTPUTIMAGE</c>: a root filesystem (an ext image copied bit for bit,
/// or a directory or tar archive built by the ext writer) becomes partition 1 of a new MBR disk image, with an
/// ext2 boot partition holding GRUB's files before it and GRUB's core image in the gap after the MBR, all
/// written by this library (no grub-install, mke2fs, sfdisk or loop device). See docs/architecture.md.
/// <para>The order of the work: identify ROOTIMAGE and open GRUB's files (so that wrong input fails before any
/// output exists); size both partitions and lay out the disk; write the root filesystem into a sparse
/// temporary file beside OUTPUTIMAGE; run the root steps; read the root filesystem back (UUID, features,
/// kernels) to write grub.cfg; build the boot partition; write the partition table, core.img and boot.img;
/// rename the file into place. A failure or cancellation at any point removes the temporary file.</para>
/// </summary>
public static class BootableDiskBuilder
{
    /// <summary>The boot partition's volume label.</summary>
    public const string BootLabel = "boot";

    /// <summary>Zero detection when copying an image: all-zero 4 KiB blocks (the host's page size) stay holes.</summary>
    private const int CopyBlockSize = 4096;

    public static BootableDiskResult Build(BootableDiskOptions options, IProgress<BootableDiskProgress>? progress = null, CancellationToken cancellation = default)
    {
        var clock = Stopwatch.StartNew();
        var output = options.OutputPath;
        var warnings = new List<string>();
        Validate(options);

        // Everything that can be wrong with the input is found before the output is created.
        if (options.KernelPath != null && !LooksLikeLinuxKernel(options.KernelPath))
        {
            warnings.Add($"-k {options.KernelPath} does not look like an x86 Linux kernel (no \"HdrS\" boot header at byte 0x202): GRUB's linux command will refuse it");
        }
        var grub = GrubPlatformDirectory.Open(options.GrubDirectory, options.GrubDirectoryOrigin);
        var root = RootFilesystemInput.Identify(options.RootPath);
        CheckOptionsFit(options, root);
        CheckOutput(options, root);
        if (root.Kind == RootInputKind.FilesystemImage && root.Compression == CompressionFormat.None && options.KernelPath == null)
        {
            // Cheap to check on an uncompressed image before copying it: is there a kernel GRUB can read?
            PreflightImageKernels(options, root);
        }
        else if (root.Kind == RootInputKind.Directory && options.KernelPath == null && !options.NoKernel && !TreeMayHoldKernel(root.Path))
        {
            throw NoKernel(root);
        }

        var buildTime = options.SourceDateEpoch is long epoch ? DateTimeOffset.FromUnixTimeSeconds(epoch) : DateTimeOffset.UtcNow;
        var superset = GrubConfigWriter.ModulesUsed(new GrubConfigOptions(),
        [
            new GrubMenuEntry { Title = "boot", KernelPath = "/k", CommandLine = "", Source = GrubFileSource.BootPartition },
            new GrubMenuEntry { Title = "root", KernelPath = "/k", CommandLine = "", Source = GrubFileSource.RootFilesystem },
        ]);
        var grubFiles = GrubBootFiles.Select(grub, options.GrubModules, superset);
        var bootTree = new BootPartitionTree(grubFiles, options.KernelPath, options.InitrdPath, buildTime);
        var bootOptions = new ExtFilesystemOptions
        {
            Type = ExtFilesystemType.Ext2,
            Label = BootLabel,
            ReservedPercent = 0, // nobody logs in to GRUB's partition: no blocks kept for root
            SourceDateEpoch = options.SourceDateEpoch,
            BuildTime = buildTime,
            OwnerUid = 0,
            OwnerGid = 0,
        };
        var bootSize = new ExtFilesystemBuilder(bootOptions).Resolve(bootTree.SizingSource(), cancellation).SizeBytes!.Value;

        // The root's size: an image's own; for a tree, what the writer computes (one read of the tree) unless -s gives the disk's.
        IFileTreeSource? rootSource = null;
        using var rootSourceLifetime = new SourceLifetime();
        ExtFilesystemOptions? rootOptions = null;
        long rootMinimum;
        if (root.Kind == RootInputKind.FilesystemImage)
        {
            rootMinimum = root.FilesystemBytes;
        }
        else
        {
            rootSource = root.Kind == RootInputKind.Directory ? new DirectoryTreeSource(root.Path) : TarArchiveSource.Open(root.Path);
            rootSourceLifetime.Source = rootSource;
            rootOptions = new ExtFilesystemOptions
            {
                Type = options.RootFilesystemType ?? ExtFilesystemType.Ext4,
                Label = options.RootLabel,
                Uuid = options.RootUuid,
                SourceDateEpoch = options.SourceDateEpoch,
                BuildTime = buildTime,
                OwnerUid = options.RootOwner?.Uid,
                OwnerGid = options.RootOwner?.Gid,
            };
            if (options.DiskSizeBytes == null)
            {
                var measuring = Forward(progress, BootableDiskStage.MeasuringRoot, $"reading {root.Path} to size the root filesystem");
                rootOptions = new ExtFilesystemBuilder(rootOptions, measuring).Resolve(rootSource, cancellation);
                rootMinimum = rootOptions.SizeBytes!.Value;
            }
            else if (rootSource.CanReadTwice)
            {
                // The filesystem gets whatever the disk leaves: check now, before anything is written, that the tree fits.
                var measuring = Forward(progress, BootableDiskStage.MeasuringRoot, $"reading {root.Path} to check that it fits");
                rootMinimum = new ExtFilesystemBuilder(rootOptions, measuring).MinimumSize(rootSource, cancellation)
                    ?? throw new ImageToolsException(ErrorKind.DoesNotFit, $"{root} is too large for an ext2/ext3 filesystem") { Path = root.Path };
            }
            else
            {
                // A pipe is read once, while the filesystem is written: the writer says if it does not fit.
                rootMinimum = BootableDiskLayout.Alignment;
            }
        }

        var layout = BootableDiskLayout.Plan(bootSize, rootMinimum, options.DiskSizeBytes, output);
        var rootName = $"{output} partition {BootableDiskLayout.RootPartitionNumber}";
        var bootName = $"{output} partition {BootableDiskLayout.BootPartitionNumber}";

        using var file = AtomicOutputFile.Create(output);
        try
        {
            RandomAccess.SetLength(file.Handle, layout.DiskSizeBytes); // sparse: nothing is allocated yet
        }
        catch (IOException e)
        {
            throw new ImageToolsException(ErrorKind.WriteFailed, $"{output}: cannot make a {layout.DiskSizeBytes}-byte file: {e.Message}", e) { Path = output };
        }
        using var disk = new FileHandleStream(file.Handle, writable: true, output);

        // 1. The root filesystem, into partition 1.
        ExtBuildResult? rootBuild = null;
        CopyStatistics? rootCopy = null;
        if (root.Kind == RootInputKind.FilesystemImage)
        {
            rootCopy = CopyImage(root, file, layout, rootName, warnings, progress, cancellation);
        }
        else
        {
            rootBuild = BuildTree(root, rootSource!, rootOptions! with { SizeBytes = rootOptions!.SizeBytes ?? layout.RootPartitionLength },
                file, layout, rootName, options, progress, cancellation);
        }

        // 2. The root steps (scrub, first boot...), on the copy in the disk.
        using var rootWindow = new SubStream(disk, layout.RootPartitionOffset, layout.RootPartitionLength, writable: true, name: rootName);
        var rootBytes = root.Kind == RootInputKind.FilesystemImage ? root.FilesystemBytes : rootBuild!.SizeBytes;
        var stepReports = new List<(string, IReadOnlyList<string>)>();
        foreach (var step in options.RootSteps)
        {
            cancellation.ThrowIfCancellationRequested();
            progress?.Report(new BootableDiskProgress(BootableDiskStage.RootStep, step.Description, 0, null, 0));
            var report = step.Run(new RootFilesystemContext
            {
                Partition = rootWindow,
                Name = rootName,
                Disk = file.Handle,
                PartitionOffset = layout.RootPartitionOffset,
                FilesystemBytes = rootBytes,
                SourceDateEpoch = options.SourceDateEpoch,
                Cancellation = cancellation,
            });
            stepReports.Add((step.Description, report));
        }

        // 3. What the root filesystem now is: its UUID names it on the kernel command line; its kernels fill the menu.
        cancellation.ThrowIfCancellationRequested();
        var facts = ReadRootFacts(rootWindow, rootName, options, warnings);
        var commandLine = KernelCommandLine.Build(new KernelCommandLineOptions
        {
            RootFilesystemUuid = facts.Uuid,
            RootDevice = options.RootDevice,
            DefaultConsoles = options.DefaultConsoles,
            Extra = options.ExtraCommandLine,
        });
        var entries = new List<GrubMenuEntry>();
        if (options.KernelPath != null)
        {
            entries.Add(new GrubMenuEntry
            {
                Title = facts.DistributionName,
                KernelPath = BootPartitionTree.KernelPath,
                InitrdPath = options.InitrdPath != null ? BootPartitionTree.InitrdPath : null,
                Source = GrubFileSource.BootPartition,
                CommandLine = commandLine,
            });
        }
        entries.AddRange(GrubConfigWriter.EntriesForRootKernels(facts.Kernels, commandLine, facts.DistributionName));
        if (entries.Count == 0 && !options.NoKernel)
        {
            throw NoKernel(root);
        }
        var grubConfig = GrubConfigWriter.Write(new GrubConfigOptions
        {
            TimeoutSeconds = options.MenuTimeoutSeconds,
            RootFilesystemUuid = facts.Uuid,
            RootPartitionNumber = BootableDiskLayout.RootPartitionNumber,
        }, entries);

        // 4. The boot partition.
        var bootProgress = Forward(progress, BootableDiskStage.BuildingBootPartition, "writing the boot partition");
        var bootTarget = ExtImageTarget.ForFile(file.Handle, layout.BootPartitionOffset, layout.BootPartitionLength, knownZero: true, name: bootName);
        var bootBuild = new ExtFilesystemBuilder(bootOptions with { SizeBytes = layout.BootPartitionLength }, bootProgress)
            .Build(bootTree.Source(grubConfig), bootTarget, cancellation);

        // 5. Partition table, core.img in the gap, boot.img in the MBR.
        cancellation.ThrowIfCancellationRequested();
        progress?.Report(new BootableDiskProgress(BootableDiskStage.InstallingGrub, "installing GRUB", 0, null, 0));
        var signature = DiskSignature(disk, layout, options.SourceDateEpoch);
        layout.BuildTable(signature).WriteTo(disk);
        var core = GrubCoreImageBuilder.Build(grub, new GrubCoreImageOptions { Prefix = GrubPrefix.ForMsdosPartition(BootableDiskLayout.BootPartitionNumber) });
        GrubDiskInstaller.Install(disk, grub.BootImage, core, output);

        cancellation.ThrowIfCancellationRequested();
        file.Commit();

        long? allocated = null;
        try
        {
            var identity = PlatformIo.Current.GetIdentity(output);
            allocated = identity.Exists ? identity.AllocatedBytes : null;
        }
        catch (IOException)
        {
        }
        return new BootableDiskResult
        {
            OutputPath = output,
            DiskSizeBytes = layout.DiskSizeBytes,
            SizeWasComputed = options.DiskSizeBytes == null,
            AllocatedBytes = allocated,
            DiskSignature = signature,
            Layout = layout,
            Partitions =
            [
                new BuiltPartition(BootableDiskLayout.BootPartitionNumber, "boot", layout.BootPartitionOffset / BootableDiskLayout.SectorSize,
                    layout.BootPartitionLength / BootableDiskLayout.SectorSize, "ext2", bootBuild.SizeBytes, bootBuild.Uuid.ToString("D"), bootBuild.Label),
                new BuiltPartition(BootableDiskLayout.RootPartitionNumber, "root", layout.RootPartitionOffset / BootableDiskLayout.SectorSize,
                    layout.RootPartitionLength / BootableDiskLayout.SectorSize, facts.Type, rootBytes, facts.Uuid, facts.Label),
            ],
            Root = root,
            RootBuild = rootBuild,
            RootCopy = rootCopy,
            BootBuild = bootBuild,
            CoreImage = core,
            GrubDirectory = grub.DirectoryPath,
            GrubFiles = grubFiles.Count,
            BootEntries = entries,
            GrubConfig = grubConfig,
            StepReports = stepReports,
            Warnings = warnings,
            Elapsed = clock.Elapsed,
        };
    }

    // ---- Checks ----------------------------------------------------------------------------------

    private static void Validate(BootableDiskOptions o)
    {
        if (o.NoKernel && o.KernelPath != null)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "--no-kernel and -k contradict each other: give one of them");
        }
        if (o.InitrdPath != null && o.KernelPath == null)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                "-i INITRD needs -k KERNEL: the initrd goes to the boot partition with the kernel it belongs to (kernels inside the root filesystem use their own initrds)");
        }
        foreach (var (path, what) in new[] { (o.KernelPath, "-k kernel"), (o.InitrdPath, "-i initrd") })
        {
            if (path == null)
            {
                continue;
            }
            if (!File.Exists(path))
            {
                throw new ImageToolsException(ErrorKind.NotFound, $"{what} {path}: no such file") { Path = path };
            }
        }
        if (o.DiskSizeBytes is <= 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"disk size {o.DiskSizeBytes} must be positive");
        }
        if (o.MenuTimeoutSeconds < 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"menu timeout {o.MenuTimeoutSeconds} must not be negative");
        }
        if (o.SourceDateEpoch is < 0 or > uint.MaxValue)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"SOURCE_DATE_EPOCH {o.SourceDateEpoch} is not between 0 and 4294967295");
        }
    }

    /// <summary>The options that shape a new filesystem mean nothing for an image that is copied as it is.</summary>
    private static void CheckOptionsFit(BootableDiskOptions o, RootFilesystemInput root)
    {
        if (root.Kind != RootInputKind.FilesystemImage)
        {
            return;
        }
        var given = new List<string>();
        if (o.RootFilesystemType != null)
        {
            given.Add("--fs-type");
        }
        if (o.RootLabel != null)
        {
            given.Add("--label");
        }
        if (o.RootUuid != null)
        {
            given.Add("--uuid");
        }
        if (o.RootOwner != null)
        {
            given.Add("--owner");
        }
        if (given.Count > 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"{string.Join(", ", given)} shape a filesystem fsmaker builds from a directory or a tar archive; ROOTIMAGE {root.Path} is an {root.FilesystemType} image, " +
                "which is copied bit for bit (change it with tune2fs/e2label first, or give its tree)") { Path = root.Path };
        }
    }

    private static void CheckOutput(BootableDiskOptions o, RootFilesystemInput root)
    {
        var output = o.OutputPath;
        if (Directory.Exists(output))
        {
            throw new ImageToolsException(ErrorKind.DestinationUnwritable, $"OUTPUTIMAGE {output} is a directory; give the path of the disk image file to write") { Path = output };
        }
        var platform = PlatformIo.Current;
        var target = platform.Identify(output, ErrorKind.DestinationUnwritable, "OUTPUTIMAGE");
        if (target.Exists && target.Kind != FileKind.RegularFile)
        {
            throw new ImageToolsException(ErrorKind.DestinationUnwritable,
                $"OUTPUTIMAGE {output} is a {Describe(target.Kind)}; fsmaker writes a disk image file (copy it onto a device afterwards with sparsecopy)") { Path = output };
        }
        if (target.Exists && target.IsSameObjectAs(platform.Identify(root.Path, ErrorKind.SourceUnreadable, "ROOTIMAGE")))
        {
            throw new ImageToolsException(ErrorKind.SameFile, $"OUTPUTIMAGE {output} is ROOTIMAGE {root.Path}; the root filesystem is never modified: write the disk to another file") { Path = output };
        }
        foreach (var input in new[] { o.KernelPath, o.InitrdPath })
        {
            if (input != null && target.Exists && target.IsSameObjectAs(platform.Identify(input, ErrorKind.SourceUnreadable, "input")))
            {
                throw new ImageToolsException(ErrorKind.SameFile, $"OUTPUTIMAGE {output} is {input}, an input; write the disk to another file") { Path = output };
            }
        }
    }

    /// <summary>The x86 boot protocol's header magic, "HdrS" at 0x202 (Documentation/arch/x86/boot.rst), which GRUB's linux command checks.</summary>
    private static bool LooksLikeLinuxKernel(string path)
    {
        Span<byte> magic = stackalloc byte[4];
        try
        {
            using var handle = File.OpenHandle(path);
            return RandomAccess.Read(handle, magic, 0x202) == 4 && magic.SequenceEqual("HdrS"u8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable, $"-k kernel {path}: cannot read it: {e.Message}", e) { Path = path };
        }
    }

    private static string Describe(FileKind kind) => kind switch
    {
        FileKind.BlockDevice => "block device",
        FileKind.CharacterDevice => "character device",
        FileKind.Pipe => "pipe",
        FileKind.Socket => "socket",
        _ => "special file",
    };

    /// <summary>Before copying an uncompressed image: GRUB must be able to read it, and it must hold a kernel (or --no-kernel).</summary>
    private static void PreflightImageKernels(BootableDiskOptions options, RootFilesystemInput root)
    {
        CheckGrubCanRead(root.Superblock!, $"ROOTIMAGE {root.Path}");
        if (options.NoKernel)
        {
            return;
        }
        using var image = ImageFile.OpenRead(root.Path);
        using var window = new SubStream(image, 0, root.FilesystemBytes, name: root.Path);
        var kernels = FindKernels(window, root.Path, []);
        if (kernels.Count == 0)
        {
            throw NoKernel(root);
        }
    }

    private static ImageToolsException NoKernel(RootFilesystemInput root) =>
        new(ErrorKind.NotFound,
            $"no kernel to boot: {root} has no /vmlinuz, /boot/vmlinuz or /boot/vmlinuz-VERSION, and no -k KERNEL was given. " +
            "Give the kernel (and its initrd) with -k and -i, install one in the root filesystem, or use --no-kernel for a GRUB menu without entries") { Path = root.Path };

    /// <summary>
    /// Whether a directory tree has any of the names a kernel is looked for under (checked again, properly,
    /// once the tree is a filesystem): a tree without one fails before anything is written.
    /// </summary>
    private static bool TreeMayHoldKernel(string tree)
    {
        bool Exists(string relative)
        {
            var path = Path.Combine(tree, relative);
            return File.Exists(path) || new FileInfo(path).LinkTarget != null;
        }
        var boot = Path.Combine(tree, "boot");
        return Exists("vmlinuz") || Exists("boot/vmlinuz")
            || (Directory.Exists(boot) && Directory.EnumerateFileSystemEntries(boot, "vmlinuz-*").Any());
    }

    private static void CheckGrubCanRead(Superblock sb, string what)
    {
        var unreadable = GrubExtSupport.UnreadableFeatures((uint)sb.FeatureIncompat);
        if (unreadable.Count > 0)
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{what} uses {string.Join(", ", unreadable)}, which GRUB 2.06 cannot read, so it cannot load a kernel from it: " +
                $"give the kernel with -k (and -i) so that it goes to the boot partition, or turn the feature off (mke2fs -O ^{unreadable[0]})");
        }
    }

    // ---- The root filesystem ---------------------------------------------------------------------

    private static CopyStatistics CopyImage(RootFilesystemInput root, AtomicOutputFile file, BootableDiskLayout layout, string rootName,
        List<string> warnings, IProgress<BootableDiskProgress>? progress, CancellationToken cancellation)
    {
        using var opened = SourceOpener.Open(root.Path, decompress: true);
        using var target = new HandleCopyTarget(rootName, file.Handle, FileKind.RegularFile, baseOffset: layout.RootPartitionOffset,
            knownZeroFrom: 0, capacity: layout.RootPartitionLength, ownsHandle: false);
        var what = $"copying {opened.Source.Name}";
        var copyProgress = progress == null ? null : new CopyProgressForwarder(p =>
            progress.Report(new BootableDiskProgress(BootableDiskStage.CopyingRoot, what, p.BytesDone, root.FilesystemBytes, 0)));
        // Only the filesystem is copied: bytes an image file holds after it are not part of it.
        var statistics = SparseCopier.Copy(opened.Source, target, new SparseCopyOptions { BlockSize = CopyBlockSize, MaxBytes = root.FilesystemBytes },
            finalSize: null, copyProgress, cancellation);
        if (statistics.TotalBytes < root.FilesystemBytes)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage,
                $"ROOTIMAGE {root.Path}: the ext filesystem in it is {root.FilesystemBytes} bytes but it ended after {statistics.TotalBytes}: it is truncated") { Path = root.Path };
        }
        if (root.ImageBytes is long length && length > root.FilesystemBytes)
        {
            warnings.Add($"ROOTIMAGE {root.Path} is {length} bytes but its filesystem ends at {root.FilesystemBytes}; the {length - root.FilesystemBytes} bytes after it were not copied");
        }
        return statistics;
    }

    private static ExtBuildResult BuildTree(RootFilesystemInput root, IFileTreeSource source, ExtFilesystemOptions rootOptions, AtomicOutputFile file,
        BootableDiskLayout layout, string rootName, BootableDiskOptions options, IProgress<BootableDiskProgress>? progress, CancellationToken cancellation)
    {
        var target = ExtImageTarget.ForFile(file.Handle, layout.RootPartitionOffset, layout.RootPartitionLength, knownZero: true, name: rootName);
        var building = Forward(progress, BootableDiskStage.BuildingRoot, $"building the root filesystem from {root.Path}");
        try
        {
            return new ExtFilesystemBuilder(rootOptions, building).Build(source, target, cancellation);
        }
        catch (ImageToolsException e) when (e.Kind == ErrorKind.DoesNotFit && options.DiskSizeBytes is long size)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"{options.OutputPath}: a disk of {size} bytes leaves {layout.RootPartitionLength} bytes for the root filesystem after GRUB and the boot partition " +
                $"(the first {layout.RootPartitionOffset} bytes), and {root} does not fit: {e.Message}. " +
                $"The disk must be {layout.RootPartitionOffset} bytes larger than that filesystem; leave out -s to have fsmaker size it", e) { Path = options.OutputPath };
        }
    }

    // ---- Reading the root back ---------------------------------------------------------------------

    private sealed record RootFacts(string Uuid, string Type, string Label, IReadOnlyList<KernelCandidate> Kernels, string DistributionName);

    private static RootFacts ReadRootFacts(Stream rootWindow, string rootName, BootableDiskOptions options, List<string> warnings)
    {
        using var device = new ExtBlockDevice(rootWindow, rootName, leaveOpen: true);
        var sb = ExtFileSystem.ReadSuperblock(device, new ExtOpenOptions { VerifyChecksums = false });
        var uuid = sb.UuidAsGuid.ToString("D");
        var type = ExtFeatureSupport.NameOf(ExtFeatureSupport.Classify(sb));
        var kernels = (IReadOnlyList<KernelCandidate>)[];
        var distribution = "Linux";
        var unreadable = GrubExtSupport.UnreadableFeatures((uint)sb.FeatureIncompat);
        if (unreadable.Count > 0)
        {
            if (options.KernelPath == null)
            {
                CheckGrubCanRead(sb, rootName);
            }
            warnings.Add($"GRUB cannot read the root filesystem ({string.Join(", ", unreadable)}): only the -k kernel is in the menu");
        }
        else
        {
            try
            {
                kernels = FindKernels(rootWindow, rootName, warnings);
                distribution = DistributionName(rootWindow, rootName) ?? distribution;
            }
            catch (ImageToolsException e) when (options.KernelPath != null && e.Kind is not ErrorKind.Cancelled)
            {
                warnings.Add($"the root filesystem's kernels cannot be listed ({e.Message}); only the -k kernel is in the menu");
            }
        }
        if (sb.FeatureIncompat.HasFlag(IncompatFeatures.NeedsRecovery))
        {
            warnings.Add("the root filesystem's journal needs recovery (it was not cleanly unmounted): Linux replays it at mount, " +
                         "but GRUB reads the filesystem as it is on disk; run e2fsck -fy on the image first to be safe");
        }
        return new RootFacts(uuid, type, sb.VolumeName, kernels, distribution);
    }

    /// <summary>The kernels GRUB can boot from the root filesystem, default first (<see cref="KernelLocator"/>).</summary>
    private static IReadOnlyList<KernelCandidate> FindKernels(Stream filesystem, string name, List<string> warnings)
    {
        using var fs = ExtFileSystem.Open(filesystem, name, new ExtOpenOptions { AllowStaleJournal = true, VerifyChecksums = true }, leaveOpen: true);
        var (kernels, initrds) = KernelFinder.Find(fs);
        warnings.AddRange(fs.Warnings.Select(w => $"{name}: {w}"));
        // Regular files, or links that resolve to one inside the filesystem (a dangling link has no size).
        var files = kernels.Concat(initrds).Where(f => f.SizeBytes > 0).Select(f => f.Path);
        return KernelLocator.FindInRootFilesystem(files);
    }

    /// <summary>PRETTY_NAME (else NAME) from the root's os-release, for the menu titles; null when there is none.</summary>
    private static string? DistributionName(Stream filesystem, string name)
    {
        using var fs = ExtFileSystem.Open(filesystem, name, new ExtOpenOptions { AllowStaleJournal = true }, leaveOpen: true);
        foreach (var path in new[] { "/etc/os-release", "/usr/lib/os-release" })
        {
            var inode = fs.TryResolve(path, followLast: true);
            if (inode is not { IsRegularFile: true } || inode.Size > 64 * 1024)
            {
                continue;
            }
            using var content = fs.OpenContent(inode);
            var text = new StreamReader(content, Encoding.UTF8).ReadToEnd();
            string? prettyName = null, plainName = null;
            foreach (var line in text.Split('\n'))
            {
                var equals = line.IndexOf('=');
                if (equals <= 0)
                {
                    continue;
                }
                var value = line[(equals + 1)..].Trim().Trim('"', '\'');
                switch (line[..equals].Trim())
                {
                    case "PRETTY_NAME":
                        prettyName = value;
                        break;
                    case "NAME":
                        plainName = value;
                        break;
                }
            }
            var result = prettyName ?? plainName;
            if (!string.IsNullOrWhiteSpace(result) && !result.Any(char.IsControl))
            {
                return result;
            }
        }
        return null;
    }

    // ---- Identifiers -------------------------------------------------------------------------------

    /// <summary>
    /// The MBR disk signature (sfdisk's label-id, Linux's PARTUUID prefix). Random, as sfdisk draws it; under
    /// SOURCE_DATE_EPOCH derived from the epoch and both filesystems' superblocks (which carry their UUIDs,
    /// sizes and free counts, themselves derived from the input), so the same input gives the same disk.
    /// </summary>
    private static uint DiskSignature(Stream disk, BootableDiskLayout layout, long? sourceDateEpoch)
    {
        Span<byte> bytes = stackalloc byte[4];
        uint value;
        if (sourceDateEpoch is long epoch)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            hash.AppendData(Encoding.UTF8.GetBytes($"imagetools disk signature epoch={epoch}"));
            var superblock = new byte[Superblock.Size];
            foreach (var offset in new[] { layout.RootPartitionOffset, layout.BootPartitionOffset })
            {
                disk.Position = offset + Superblock.PrimaryOffset;
                disk.ReadExactly(superblock);
                hash.AppendData(superblock);
            }
            value = BinaryPrimitives.ReadUInt32LittleEndian(hash.GetHashAndReset());
            return value == 0 ? 1 : value;
        }
        do
        {
            RandomNumberGenerator.Fill(bytes);
            value = BinaryPrimitives.ReadUInt32LittleEndian(bytes);
        } while (value == 0);
        return value;
    }

    // ---- Progress ----------------------------------------------------------------------------------

    private static IProgress<ExtBuildProgress>? Forward(IProgress<BootableDiskProgress>? progress, BootableDiskStage stage, string what) =>
        progress == null ? null : new ExtProgress(p => progress.Report(new BootableDiskProgress(stage, what, p.Bytes, null, p.Entries)));

    /// <summary>Disposes a tree source that holds something open (a tar archive), whenever the build ends.</summary>
    private sealed class SourceLifetime : IDisposable
    {
        public IFileTreeSource? Source { get; set; }

        public void Dispose() => (Source as IDisposable)?.Dispose();
    }

    /// <summary>Calls back synchronously (System.Progress would post to the thread pool and reorder events).</summary>
    private sealed class CopyProgressForwarder(Action<CopyProgress> report) : IProgress<CopyProgress>
    {
        public void Report(CopyProgress value) => report(value);
    }

    /// <summary>Calls back synchronously, like <see cref="CopyProgressForwarder"/>.</summary>
    private sealed class ExtProgress(Action<ExtBuildProgress> report) : IProgress<ExtBuildProgress>
    {
        public void Report(ExtBuildProgress value) => report(value);
    }
}
