using ImageTools.Core.Ext.Sources;

namespace ImageTools.Core.Ext.Writer;

/// <summary>
/// Builds an ext2/ext3 filesystem from a stream of <see cref="FileEntry"/> items (a directory tree,
/// a tar archive or entries made in code) into any seekable target: a whole image file or a
/// partition window inside a disk image. No root, no loop device, no mounting.
/// See docs/ext-writer.md for the design.
/// </summary>
public sealed class ExtFilesystemBuilder
{
    private readonly ExtFilesystemOptions _options;
    private readonly IProgress<ExtBuildProgress>? _progress;

    public ExtFilesystemBuilder(ExtFilesystemOptions options, IProgress<ExtBuildProgress>? progress = null)
    {
        _options = options;
        _progress = progress;
    }

    /// <summary>
    /// The options a build will really use: the size (computed from the content when none was given,
    /// which reads the source once more) and, when the content has many small files, an inode count.
    /// </summary>
    public ExtFilesystemOptions Resolve(IFileTreeSource source, CancellationToken cancellation = default)
    {
        ValidateOptions(_options);
        if (_options.SizeBytes != null)
        {
            return _options;
        }
        if (!source.CanReadTwice)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"{source.Description} can only be read once, so its size cannot be measured first; give the filesystem size (--size)");
        }
        var needs = ContentEstimator.Measure(source, _options, _progress, cancellation);
        return SizePlanner.DefaultOptions(_options, needs);
    }

    /// <summary>
    /// The smallest filesystem size (a whole number of MiB) that holds <paramref name="source"/>'s content, or null when
    /// none does: for callers that must check a size they were given before writing anything (fsmaker's -s). Reads
    /// the source once without its file data, and errs on the large side as the default size does.
    /// </summary>
    public long? MinimumSize(IFileTreeSource source, CancellationToken cancellation = default)
    {
        ValidateOptions(_options);
        var needs = ContentEstimator.Measure(source, _options, _progress, cancellation);
        return SizePlanner.Minimum(_options with { SizeBytes = null }, needs);
    }

    /// <summary>Builds into <paramref name="target"/>; the size is the options' (or computed) and must fit the target window.</summary>
    public ExtBuildResult Build(IFileTreeSource source, ExtImageTarget target, CancellationToken cancellation = default)
    {
        var resolved = Resolve(source, cancellation);
        var size = resolved.SizeBytes!.Value;
        if (size > target.Length)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"a filesystem of {size} bytes does not fit the {target.Length}-byte output window");
        }
        var geometry = ExtGeometry.Compute(resolved, size);
        var run = new BuildRun(geometry, resolved, target, _progress, cancellation);
        var result = run.Execute(source);
        return result with { SizeWasComputed = _options.SizeBytes == null };
    }

    /// <summary>
    /// Builds an image file at <paramref name="imagePath"/> atomically: the filesystem is written to a
    /// temporary file beside it and renamed into place only when complete; on any failure or
    /// cancellation the temporary file is removed and an existing image is left untouched.
    /// </summary>
    public ExtBuildResult BuildImageFile(IFileTreeSource source, string imagePath, CancellationToken cancellation = default)
    {
        var resolved = Resolve(source, cancellation);
        var builder = new ExtFilesystemBuilder(resolved, _progress);
        using var output = AtomicOutputFile.Create(imagePath);
        var target = ExtImageTarget.ForFile(output.Handle, 0, resolved.SizeBytes!.Value, knownZero: true, name: imagePath);
        var result = builder.Build(source, target, cancellation);
        output.Commit();
        return result with { SizeWasComputed = _options.SizeBytes == null };
    }

    internal static void ValidateOptions(ExtFilesystemOptions o)
    {
        if (o.SizeBytes is <= 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"filesystem size {o.SizeBytes} must be positive");
        }
        if (o.BlockSize is { } bs && bs is not (1024 or 2048 or 4096))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"block size {bs} is not supported (use 1024, 2048 or 4096)");
        }
        if (o.InodeSize is not (128 or 256 or 512 or 1024))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"inode size {o.InodeSize} is not supported (use 128 or 256)");
        }
        if (o.Label != null && System.Text.Encoding.UTF8.GetByteCount(o.Label) > 16)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"label '{o.Label}' is longer than 16 bytes");
        }
        if (o.SourceDateEpoch is { } sde && (sde < 0 || sde > uint.MaxValue))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"SOURCE_DATE_EPOCH {sde} is not between 0 and 4294967295");
        }
    }
}
