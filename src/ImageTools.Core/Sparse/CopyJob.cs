using ImageTools.Core.Containers;
using ImageTools.Core.Partitions;
using ImageTools.Core.Platform;
using ImageTools.Core.Sparse.Bmap;
using ImageTools.Core.Streams;
using Microsoft.Win32.SafeHandles;

namespace ImageTools.Core.Sparse;

/// <summary>A copy between two paths, as sparsecopy's command line describes it.</summary>
public sealed record CopyRequest
{
    /// <summary>A file, a block device, a pipe/character device, or "-" (stdin).</summary>
    public required string Source { get; init; }

    /// <summary>A file, a block device, a character device, or "-" (stdout).</summary>
    public required string Destination { get; init; }

    /// <summary>Unpack gzip/zstd/xz/bzip2 input recognised by its magic (<c>--no-decompress</c> clears it).</summary>
    public bool Decompress { get; init; } = true;

    /// <summary>Start reading SOURCE at this offset (<c>--skip</c>), counted in decompressed bytes.</summary>
    public long SourceOffset { get; init; }

    /// <summary>Write over an existing DEST file in place instead of replacing it (<c>-o</c>).</summary>
    public bool Overlay { get; init; }

    /// <summary>DEST's size at the end (<c>-f</c>; ignored for devices).</summary>
    public long? FinalSize { get; init; }

    public SparseCopyOptions Options { get; init; } = new();

    /// <summary>Copy only this partition of SOURCE (<c>--partition N</c>): its bytes, read from SOURCE's data ranges.</summary>
    public int? SourcePartition { get; init; }

    /// <summary>
    /// Write into this partition of an existing DEST disk image or disk (<c>--to-partition N</c>), in place; SOURCE
    /// must fit in it, and is refused before anything is written when it does not.
    /// </summary>
    public int? DestinationPartition { get; init; }

    /// <summary>
    /// After a whole-disk copy to a DEST of another size (a device, or <c>-f</c>), extend the last partition to DEST's end
    /// (<c>--grow</c>); the file system inside keeps its size.
    /// </summary>
    public bool GrowLastPartition { get; init; }

    /// <summary>Copy only the ranges this bmap file maps, checking each range's checksum as it is read (<c>--bmap FILE</c>).</summary>
    public string? BmapPath { get; init; }

    /// <summary>A whole disk copied from its start to DEST's start, nothing cut: the copies that the table rules apply to.</summary>
    public bool IsWholeDiskCopy =>
        SourcePartition == null && DestinationPartition == null && BmapPath == null && SourceOffset == 0
        && Options.DestinationOffset == 0 && Options.MaxBytes == null;

    /// <summary>The container DEST is written as (<c>-O</c>); Raw writes the disk's bytes as they are.</summary>
    public ContainerFormat OutputFormat { get; init; } = ContainerFormat.Raw;

    /// <summary>Compressed clusters in a container DEST that has them (<c>--compress</c>, qcow2).</summary>
    public ClusterCompression OutputCompression { get; init; } = ClusterCompression.None;

    /// <summary>Opens standard input (default: the process's fd 0).</summary>
    public Func<Stream>? OpenStdin { get; init; }

    /// <summary>Opens standard output (default: the process's stdout).</summary>
    public Func<Stream>? OpenStdout { get; init; }
}

/// <summary>What a finished copy reports.</summary>
public sealed record CopyOutcome(CopyStatistics Statistics, CompressionFormat SourceFormat, TargetCompletion Completion, bool DestinationIsDevice)
{
    /// <summary>What the partition and bmap options did (empty for a plain copy).</summary>
    public DiskCopyReport Disk { get; init; } = new();

    /// <summary>The container SOURCE was read from (Raw: none).</summary>
    public ContainerFormat SourceContainer { get; init; }

    /// <summary>The container DEST was written as, its virtual size and its file's length (Raw: DEST's bytes are the disk).</summary>
    public ContainerFormat DestinationContainer { get; init; }

    public long? DestinationVirtualSize { get; init; }

    public long? DestinationContainerBytes { get; init; }
}

/// <summary>
/// Opens SOURCE and DEST by path with every safety check (same file, directory, device in use, exclusive
/// open), runs <see cref="SparseCopier"/>, and commits DEST — or, on any failure or cancellation, removes
/// what a new DEST file had written.
/// </summary>
public static class CopyJob
{
    /// <param name="request">The two paths and the options.</param>
    /// <param name="progress">Progress events.</param>
    /// <param name="targetOpened">Called with DEST once opened (a front end can abort it from a signal handler).</param>
    /// <param name="cancellation">Ctrl-C.</param>
    /// <param name="platform">OS access.</param>
    public static CopyOutcome Run(CopyRequest request, IProgress<CopyProgress>? progress = null, Action<CopyTarget>? targetOpened = null,
        CancellationToken cancellation = default, IPlatformIo? platform = null)
    {
        platform ??= PlatformIo.Current;
        request.Options.Validate();
        CheckCombination(request);
        if (request.Options.Verify && request.Destination == SourceOpener.StdinName)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "--verify needs to read DEST back; stdout cannot be read back");
        }

        using var rawOpened = SourceOpener.Open(request.Source, request.Decompress, request.OpenStdin, platform);
        using var container = request.Decompress && rawOpened.Format == CompressionFormat.None && rawOpened.Source is FileDataSource { Kind: FileKind.RegularFile } file
            ? ContainerOpener.TryOpen(request.Source, file.Handle, platform)
            : null;
        var opened = container == null
            ? rawOpened
            : new OpenedSource(container, CompressionFormat.None, rawOpened.Identity)
            {
                OpenRandomAccess = () => new VirtualDiskStream(ContainerOpener.OpenAny(request.Source, null, 0, platform)),
            };
        var destIdentity = request.Destination == SourceOpener.StdinName
            ? StdoutIdentity(request, platform)
            : platform.Identify(request.Destination, ErrorKind.DestinationUnwritable, "DEST");
        if (opened.Identity.IsSameObjectAs(destIdentity))
        {
            throw new ImageToolsException(ErrorKind.SameFile,
                $"SOURCE {request.Source} and DEST {request.Destination} are the same file; copying it onto itself would destroy it") { Path = request.Destination };
        }

        var report = new DiskCopyReport { SourceLength = opened.Source.Length };
        var source = opened.Source;
        if (request.SourcePartition is { } sourceNumber)
        {
            var partition = DiskCopyPlanner.SourcePartition(opened, sourceNumber, request.Source);
            source = source.Slice(partition.Offset, partition.Length);
            report = report with { SourcePartition = partition };
        }
        if (request.SourceOffset > 0)
        {
            source = source.Slice(request.SourceOffset, null);
        }
        BmapDataSource? mapped = null;
        if (request.BmapPath != null)
        {
            var map = DiskCopyPlanner.ReadBmap(request.BmapPath);
            source = mapped = new BmapDataSource(source, map);
            report = report with { Bmap = map };
        }
        using var mappedOwner = mapped;

        using var target = OpenTarget(request, destIdentity, platform);
        targetOpened?.Invoke(target);
        CopyTarget destination = target;
        try
        {
            MbrPartitionGrowth? growth = null;
            Dictionary<long, byte[]>? growthSectors = null;
            GptRewrite? gptRewrite = null;
            long? limitedTo = null;
            if (request.DestinationPartition is { } destinationNumber)
            {
                var partition = DiskCopyPlanner.DestinationPartition(target, destinationNumber, request.Destination);
                DiskCopyPlanner.CheckFits(opened, request, source, partition, request.Destination);
                destination = new WindowCopyTarget(target, partition.Offset, partition.Length, $"{request.Destination} partition {destinationNumber}", ownsInner: false);
                report = report with { DestinationPartition = partition };
            }
            else if (request.IsWholeDiskCopy)
            {
                var plan = DiskCopyPlanner.PlanWholeDisk(opened, request, target);
                source = plan.Limit is { } limit ? source.Slice(0, limit) : source;
                growth = plan.Growth;
                growthSectors = plan.GrowthSectors;
                gptRewrite = plan.Gpt;
                limitedTo = plan.LimitedToDestination ? plan.Limit : null;
                report = report with
                {
                    DestinationSize = plan.DestinationSize,
                    CopiedUpTo = plan.CopiedUpTo,
                    LastPartition = plan.LastPartition,
                    Growth = plan.Growth,
                    Gpt = plan.Gpt,
                    NothingToGrow = request.GrowLastPartition && plan.Growth == null && plan.Gpt?.Grown == null,
                };
            }

            // With a bmap, DEST is checked range by range against the bmap (below), not against a hash of
            // everything: the unmapped blocks of a device keep what they held.
            var options = mapped != null ? request.Options with { Verify = false } : request.Options;
            var statistics = SparseCopier.Copy(source, destination, options, request.FinalSize, progress, cancellation);
            cancellation.ThrowIfCancellationRequested();

            report = CheckAfterCopy(request, report, opened.Source, source, destination, statistics, mapped, limitedTo);
            if (growth != null && growthSectors != null)
            {
                WriteGrownTable(destination, growth, growthSectors);
            }
            if (gptRewrite != null)
            {
                WriteTableSectors(destination, gptRewrite.Sectors, "the GPT rewritten for DEST's size");
            }
            var completion = destination.Commit(cancellation);
            return new CopyOutcome(statistics, opened.Format, completion, target.IsDevice)
            {
                Disk = report,
                SourceContainer = container?.Format ?? ContainerFormat.Raw,
                DestinationContainer = request.OutputFormat,
                DestinationVirtualSize = target is ContainerCopyTarget c1 ? c1.VirtualSize : null,
                DestinationContainerBytes = target is ContainerCopyTarget c2 ? c2.ContainerLength : null,
            };
        }
        catch (OperationCanceledException e)
        {
            target.Abort();
            throw new ImageToolsException(ErrorKind.Cancelled, $"interrupted; DEST {request.Destination} was not completed", e) { Path = request.Destination };
        }
        catch
        {
            target.Abort();
            throw;
        }
        finally
        {
            if (!ReferenceEquals(destination, target))
            {
                destination.Dispose();
            }
        }
    }

    /// <summary>Options that make no sense together, refused before anything is opened.</summary>
    private static void CheckCombination(CopyRequest request)
    {
        if (request.GrowLastPartition && !request.IsWholeDiskCopy)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                "--grow applies to a whole-disk copy; it cannot be combined with --partition, --to-partition, --bmap, --skip, --seek or --maxwrite");
        }
        if (request.DestinationPartition != null && request.FinalSize != null)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "--to-partition writes into an existing disk, whose size stays as it is; drop --finalsize");
        }
        if (request.OutputFormat != ContainerFormat.Raw)
        {
            var refused = new (bool Given, string Option)[]
            {
                (request.Overlay, "--overlay"), (request.DestinationPartition != null, "--to-partition"), (request.GrowLastPartition, "--grow"),
                (request.Options.DestinationOffset != 0, "--seek"), (request.Options.Verify, "--verify"), (request.Options.SyncEvery != null, "--syncevery"),
            }.Where(o => o.Given).Select(o => o.Option).ToList();
            if (refused.Count > 0)
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument,
                    $"-O {ContainerFormats.NameOf(request.OutputFormat)} writes a new container; {string.Join(", ", refused)} apply to a raw DEST (copy to raw, or drop them)");
            }
        }
        if (request.OutputFormat != ContainerFormat.Qcow2 && request.OutputCompression != ClusterCompression.None)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"--compress needs -O qcow2 (compressed clusters); {(request.OutputFormat == ContainerFormat.Raw ? "a raw DEST" : $"-O {ContainerFormats.NameOf(request.OutputFormat)}")} is never compressed");
        }
        if (request.DestinationPartition is < 1 || request.SourcePartition is < 1)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "partition numbers start at 1");
        }
        if (request.BmapPath != null && (request.SourcePartition != null || request.DestinationPartition != null || request.SourceOffset != 0
                                         || request.Options.MaxBytes != null || request.Options.DestinationOffset != 0))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                "--bmap copies the whole image the bmap describes; it cannot be combined with --partition, --to-partition, --skip, --seek or --maxwrite");
        }
    }

    private static DiskCopyReport CheckAfterCopy(CopyRequest request, DiskCopyReport report, DataSource wholeSource, DataSource source,
        CopyTarget destination, CopyStatistics statistics, BmapDataSource? mapped, long? limitedTo)
    {
        if (destination.Capacity is { } capacity && request.Options.DestinationOffset + statistics.TotalBytes > capacity)
        {
            // Only zeros went past the end (data would have failed to write): still, SOURCE did not fit.
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"SOURCE {source.Name} held {statistics.TotalBytes} bytes, more than DEST {destination.Name} holds ({capacity} bytes" +
                (request.Options.DestinationOffset > 0 ? $" from offset {request.Options.DestinationOffset}" : "") +
                "); only zeros were left out past its end") { Path = destination.Name };
        }
        if (report.SourcePartition is { } partition && request.Options.MaxBytes == null
            && statistics.TotalBytes < partition.Length - request.SourceOffset)
        {
            throw new ImageToolsException(ErrorKind.InvalidPartitionTable,
                $"SOURCE {request.Source} ended after {request.SourceOffset + statistics.TotalBytes} bytes of {partition.Describe()}, " +
                $"which the partition table says is {partition.Length} bytes long; the image is truncated") { Path = request.Source };
        }
        if (limitedTo is { } upTo)
        {
            // SOURCE's size was unknown, so at most DEST's size was copied: did SOURCE go on past it? (It was
            // read up to there, so this reads on by one byte.)
            Span<byte> probe = stackalloc byte[1];
            if (wholeSource.Read(upTo, probe) > 0)
            {
                report = report with { CopiedUpTo = upTo, SourceWentPastDestination = true };
            }
        }
        if (mapped != null)
        {
            if (!mapped.AllRangesVerified)
            {
                throw new ImageToolsException(ErrorKind.BmapMismatch,
                    $"{source.Name} ended before every range of the bmap {report.Bmap!.Source} was read") { Path = source.Name };
            }
            if (request.Options.Verify)
            {
                var map = report.Bmap!;
                using var readBack = new CopyTargetReadStream(destination, map.ImageSize);
                BmapRangeVerifier.VerifyImage(map, readBack, $"DEST {destination.Name} (read back)", mismatchKind: ErrorKind.ChecksumMismatch);
                report = report with { BmapRangesVerifiedOnDestination = true };
            }
        }
        return report;
    }

    /// <summary>Rewrites the MBR/EBR sectors whose entries grow, after the copy wrote SOURCE's table.</summary>
    private static void WriteGrownTable(CopyTarget destination, MbrPartitionGrowth growth, Dictionary<long, byte[]> sectors)
    {
        foreach (var (lba, bytes) in sectors.OrderBy(s => s.Key))
        {
            growth.Apply(lba, bytes);
            try
            {
                destination.Write(lba * MasterBootRecord.Size, bytes);
            }
            catch (IOException e)
            {
                throw new ImageToolsException(ErrorKind.WriteFailed,
                    $"cannot write the grown partition table (sector {lba}) to DEST {destination.Name}: {e.Message}", e) { Path = destination.Name };
            }
        }
        if (destination.IsDevice)
        {
            destination.FlushToDisk();
        }
    }

    /// <summary>Writes whole table sectors over what the copy wrote, then flushes a device.</summary>
    private static void WriteTableSectors(CopyTarget destination, IReadOnlyList<(long Lba, byte[] Bytes)> sectors, string what)
    {
        foreach (var (lba, bytes) in sectors)
        {
            try
            {
                destination.Write(lba * MasterBootRecord.Size, bytes);
            }
            catch (IOException e)
            {
                throw new ImageToolsException(ErrorKind.WriteFailed,
                    $"cannot write {what} (sector {lba}) to DEST {destination.Name}: {e.Message}", e) { Path = destination.Name };
            }
        }
        if (destination.IsDevice)
        {
            destination.FlushToDisk();
        }
    }

    private static FileIdentity StdoutIdentity(CopyRequest request, IPlatformIo platform)
    {
        if (request.OpenStdout != null)
        {
            return default;
        }
        try
        {
            return platform.GetIdentity(new SafeFileHandle(1, ownsHandle: false));
        }
        catch (IOException)
        {
            return default;
        }
    }

    private static CopyTarget OpenTarget(CopyRequest request, FileIdentity identity, IPlatformIo platform)
    {
        var path = request.Destination;
        if (request.OutputFormat != ContainerFormat.Raw)
        {
            var name = ContainerFormats.NameOf(request.OutputFormat);
            if (path == SourceOpener.StdinName || identity.Kind is not (FileKind.RegularFile or FileKind.Missing))
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument,
                    $"-O {name} writes its tables after the data, so DEST must be a file it can seek in; {(path == SourceOpener.StdinName ? "stdout" : path)} is not one (write to a file, then copy that)") { Path = path };
            }
            return ContainerCopyTarget.Create(path, request.OutputFormat, request.OutputCompression, platform);
        }
        if (request.DestinationPartition is { } number)
        {
            // A partition of an existing disk image or disk, written in place.
            if (path == SourceOpener.StdinName || identity.Kind is FileKind.CharacterDevice or FileKind.Pipe or FileKind.Socket)
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument,
                    $"--to-partition {number} writes into a partition of an existing disk image or disk; DEST {(path == "-" ? "stdout" : path)} is a stream") { Path = path };
            }
            switch (identity.Kind)
            {
                case FileKind.Missing:
                    throw new ImageToolsException(ErrorKind.NotFound,
                        $"DEST {path} does not exist; --to-partition {number} writes into a partition of an existing disk image or disk") { Path = path };
                case FileKind.Directory:
                    throw new ImageToolsException(ErrorKind.WrongInputKind, $"DEST {path} is a directory; give the disk image or disk to write into") { Path = path };
                case FileKind.BlockDevice:
                    return BlockDeviceCopyTarget.Open(path, platform);
                default:
                    return FileCopyTarget.Open(path, overlay: true, platform);
            }
        }
        if (path == SourceOpener.StdinName)
        {
            // File descriptor 1 as a plain stream: the library does no console I/O of its own.
            var stdout = request.OpenStdout?.Invoke() ?? new FileStream(new SafeFileHandle(1, ownsHandle: false), FileAccess.Write, bufferSize: 0);
            return new StreamCopyTarget("stdout", new BufferedStream(stdout, 1 << 20), ownsStream: true);
        }
        switch (identity.Kind)
        {
            case FileKind.Directory:
                throw new ImageToolsException(ErrorKind.WrongInputKind, $"DEST {path} is a directory; give the path of the file or device to write") { Path = path };
            case FileKind.BlockDevice:
                return BlockDeviceCopyTarget.Open(path, platform);
            case FileKind.CharacterDevice:
            case FileKind.Pipe:
            case FileKind.Socket:
                try
                {
                    var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 1 << 20);
                    return new StreamCopyTarget(path, stream, ownsStream: true);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new ImageToolsException(ErrorKind.DestinationUnwritable, $"cannot open DEST {path}: {e.Message}", e) { Path = path };
                }
            default:
                return FileCopyTarget.Open(path, request.Overlay, platform);
        }
    }
}
