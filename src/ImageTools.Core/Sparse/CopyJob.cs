using ImageTools.Core.Platform;
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

    /// <summary>Opens standard input (default: the process's fd 0).</summary>
    public Func<Stream>? OpenStdin { get; init; }

    /// <summary>Opens standard output (default: the process's stdout).</summary>
    public Func<Stream>? OpenStdout { get; init; }
}

/// <summary>What a finished copy reports.</summary>
public sealed record CopyOutcome(CopyStatistics Statistics, CompressionFormat SourceFormat, TargetCompletion Completion, bool DestinationIsDevice);

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
        if (request.Options.Verify && request.Destination == SourceOpener.StdinName)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "--verify needs to read DEST back; stdout cannot be read back");
        }

        using var opened = SourceOpener.Open(request.Source, request.Decompress, request.OpenStdin, platform);
        var destIdentity = request.Destination == SourceOpener.StdinName
            ? StdoutIdentity(request, platform)
            : platform.GetIdentity(request.Destination);
        if (opened.Identity.IsSameObjectAs(destIdentity))
        {
            throw new ImageToolsException(ErrorKind.SameFile,
                $"SOURCE {request.Source} and DEST {request.Destination} are the same file; copying it onto itself would destroy it") { Path = request.Destination };
        }

        using var target = OpenTarget(request, destIdentity, platform);
        targetOpened?.Invoke(target);
        try
        {
            var source = request.SourceOffset > 0 ? opened.Source.Slice(request.SourceOffset, null) : opened.Source;
            var statistics = SparseCopier.Copy(source, target, request.Options, request.FinalSize, progress, cancellation);
            cancellation.ThrowIfCancellationRequested();
            var completion = target.Commit(cancellation);
            return new CopyOutcome(statistics, opened.Format, completion, target.IsDevice);
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
