using System.Text;
using ImageTools.Core.Ext.OnDisk;
using ImageTools.Core.Imaging.Export;
using ImageTools.Core.Platform;

namespace ImageTools.Core.Ext.Reader;

/// <summary>How <see cref="ExtExporter.Export"/> walks and what it does with damage.</summary>
public sealed record ExtExportOptions
{
    /// <summary>What to export: "/" (the whole filesystem), a directory, or a single file.</summary>
    public string SourcePath { get; init; } = "/";

    /// <summary>
    /// The name the exported node gets in the sink: "." (the default) makes the sink's root the source
    /// itself, as <c>tar -C dir .</c> does; a name (extract uses the source's base name) puts it under that.
    /// </summary>
    public string RootName { get; init; } = ".";

    /// <summary>When <see cref="SourcePath"/> is a symbolic link, export what it points to instead of the link.</summary>
    public bool FollowSourceSymlink { get; init; }

    /// <summary>
    /// Skip damaged entries (reporting each to <see cref="OnProblem"/>) and go on, instead of stopping at
    /// the first. The summary lists them; a caller decides whether that is a failure.
    /// </summary>
    public bool KeepGoing { get; init; }

    /// <summary>Told about every damaged entry skipped (with <see cref="KeepGoing"/>).</summary>
    public Action<ExtProblem>? OnProblem { get; init; }

    /// <summary>Told after each entry (entries done, content bytes done).</summary>
    public IProgress<ExtExportProgress>? Progress { get; init; }

    public CancellationToken CancellationToken { get; init; }
}

/// <summary>Progress of an export.</summary>
public readonly record struct ExtExportProgress(long Entries, long ContentBytes, string CurrentPath);

/// <summary>What an export did.</summary>
public sealed record ExtExportSummary(long Directories, long Files, long SymbolicLinks, long HardLinks, long SpecialFiles, long ContentBytes,
    IReadOnlyList<ExtProblem> Problems)
{
    public long Entries => Directories + Files + SymbolicLinks + HardLinks + SpecialFiles;
}

/// <summary>
/// Exports a tree of an ext filesystem to a sink (a tar archive, a directory): each node with its type,
/// permissions, owner, times (nanoseconds), device numbers, link targets and xattrs (POSIX ACLs in the
/// getxattr form), parents first, children sorted by name, a multiply linked file once in full and
/// then as hard links. Content is streamed; the sink sees where the data is and can keep holes.
/// Every node is read and checked completely (its block map included) before the sink sees it, so
/// damage is found before an archive header is written, and a keep-going export skips exactly the
/// damaged node.
/// </summary>
public static class ExtExporter
{
    public static ExtExportSummary Export(ExtFileSystem fs, IExportSink sink, ExtExportOptions? options = null)
    {
        options ??= new ExtExportOptions();
        var problems = new List<ExtProblem>();
        void Report(ExtProblem problem)
        {
            problems.Add(problem);
            options.OnProblem?.Invoke(problem);
        }

        var start = fs.Resolve(options.SourcePath, options.FollowSourceSymlink);
        var exportedLinks = new Dictionary<uint, (byte[] Path, ExportEntryKind Kind)>();
        long directories = 0, files = 0, symlinks = 0, hardLinks = 0, specials = 0, bytes = 0, entries = 0;
        var rootName = Encoding.UTF8.GetBytes(options.RootName);
        var startDepthPrefix = -1;

        foreach (var item in ExtTreeWalker.WalkFrom(fs, start, options.SourcePath, options.KeepGoing ? Report : null, options.CancellationToken))
        {
            options.CancellationToken.ThrowIfCancellationRequested();
            if (startDepthPrefix < 0)
            {
                startDepthPrefix = item.PathBytes.Length;
            }
            var relative = RelativePath(item.PathBytes, startDepthPrefix, rootName);
            ExportEntry entry;
            try
            {
                entry = Describe(fs, item.Inode, relative, exportedLinks);
            }
            catch (ImageToolsException e) when (options.KeepGoing && ExtTreeWalker.IsDamage(e))
            {
                Report(new ExtProblem(item.Path, e));
                continue;
            }
            sink.Add(entry);
            entries++;
            switch (entry.Kind)
            {
                case ExportEntryKind.Directory:
                    directories++;
                    break;
                case ExportEntryKind.RegularFile:
                    files++;
                    bytes += entry.Size;
                    break;
                case ExportEntryKind.SymbolicLink:
                    symlinks++;
                    break;
                case ExportEntryKind.HardLink:
                    hardLinks++;
                    break;
                default:
                    specials++;
                    break;
            }
            if (entry.Kind != ExportEntryKind.Directory && entry.Kind != ExportEntryKind.HardLink && item.Inode.LinksCount > 1)
            {
                exportedLinks[item.Inode.Number] = (relative, entry.Kind);
            }
            options.Progress?.Report(new ExtExportProgress(entries, bytes, item.Path));
        }
        sink.Complete();
        return new ExtExportSummary(directories, files, symlinks, hardLinks, specials, bytes, problems);
    }

    private static byte[] RelativePath(byte[] absolute, int startLength, byte[] rootName)
    {
        if (absolute.Length == startLength)
        {
            return rootName;
        }
        // Skip the start path and the '/' after it (the filesystem root "/" has no separator of its own).
        var skip = startLength == 1 && absolute[0] == (byte)'/' ? 1 : startLength + 1;
        var tail = absolute.AsSpan(skip);
        if (rootName.Length == 1 && rootName[0] == (byte)'.')
        {
            return tail.ToArray();
        }
        var result = new byte[rootName.Length + 1 + tail.Length];
        rootName.CopyTo(result, 0);
        result[rootName.Length] = (byte)'/';
        tail.CopyTo(result.AsSpan(rootName.Length + 1));
        return result;
    }

    private static ExportEntry Describe(ExtFileSystem fs, ExtInode inode, byte[] relative, Dictionary<uint, (byte[] Path, ExportEntryKind Kind)> exportedLinks)
    {
        var path = Encoding.UTF8.GetString(relative);
        if (!inode.IsDirectory && exportedLinks.TryGetValue(inode.Number, out var first))
        {
            return Base(inode, path, relative, ExportEntryKind.HardLink, Array.Empty<ExportXattr>()) with { HardLinkTarget = first.Path, HardLinkTargetKind = first.Kind };
        }
        var xattrs = fs.ReadXattrs(inode).Select(x => new ExportXattr(x.Name, x.VfsValue($"{fs.Name}: inode {inode.Number} xattr {x.Name}"))).ToList();
        switch (inode.Type)
        {
            case InodeType.Directory:
                return Base(inode, path, relative, ExportEntryKind.Directory, xattrs);
            case InodeType.RegularFile:
            {
                var content = new ExtExportContent(fs, inode);
                content.Validate();
                return Base(inode, path, relative, ExportEntryKind.RegularFile, xattrs) with { Size = (long)inode.Size, Content = content };
            }
            case InodeType.SymbolicLink:
            {
                var target = fs.ReadSymlinkTarget(inode);
                return Base(inode, path, relative, ExportEntryKind.SymbolicLink, xattrs) with { LinkTarget = target };
            }
            case InodeType.CharacterDevice or InodeType.BlockDevice:
            {
                var kind = inode.Type == InodeType.CharacterDevice ? ExportEntryKind.CharacterDevice : ExportEntryKind.BlockDevice;
                return Base(inode, path, relative, kind, xattrs) with { DeviceMajor = inode.Device.Major, DeviceMinor = inode.Device.Minor };
            }
            case InodeType.Fifo:
                return Base(inode, path, relative, ExportEntryKind.Fifo, xattrs);
            case InodeType.Socket:
                return Base(inode, path, relative, ExportEntryKind.Socket, xattrs);
            default:
                throw fs.Corrupt($"inode {inode.Number} has an unknown file type 0x{(int)inode.Type:X4}");
        }
    }

    private static ExportEntry Base(ExtInode inode, string path, byte[] relative, ExportEntryKind kind, IReadOnlyList<ExportXattr> xattrs) => new()
    {
        Path = path,
        PathBytes = relative,
        Kind = kind,
        Permissions = inode.Permissions,
        Uid = inode.Uid,
        Gid = inode.Gid,
        AccessTime = Time(inode.AccessTime),
        ModificationTime = Time(inode.ModificationTime),
        ChangeTime = Time(inode.ChangeTime),
        BirthTime = inode.CreationTime is { } c ? Time(c) : null,
        Xattrs = xattrs,
        SourceInode = inode.Number,
    };

    private static UnixTime Time(ExtTimestamp t) => new(t.Seconds, t.Nanoseconds);
}

/// <summary>A regular file's content as the exporter hands it to sinks.</summary>
internal sealed class ExtExportContent(ExtFileSystem fs, ExtInode inode) : IExportContent
{
    public long Length => (long)inode.Size;

    public Stream OpenRead() => fs.OpenContent(inode);

    public IEnumerable<(long Offset, long Length)> DataRanges()
    {
        if (inode.HasInlineData)
        {
            if (Length > 0)
            {
                yield return (0, Length);
            }
            yield break;
        }
        var blockSize = (long)fs.BlockSize;
        foreach (var run in fs.EnumerateRuns(inode))
        {
            if (run.Kind != BlockRunKind.Data)
            {
                continue;
            }
            var start = (long)run.Logical * blockSize;
            var end = Math.Min(Length, (long)run.End * blockSize);
            if (end > start)
            {
                yield return (start, end - start);
            }
        }
    }

    /// <summary>
    /// Maps the whole file once and checks every data block lies inside the image, so reading the content
    /// later cannot fail half-way through an archive entry because of damage.
    /// </summary>
    public void Validate()
    {
        if (inode.Size > long.MaxValue)
        {
            throw fs.Corrupt($"inode {inode.Number}: size {inode.Size} is beyond any possible file");
        }
        if (inode.HasInlineData)
        {
            _ = fs.ReadInlineData(inode);
            return;
        }
        var blockSize = (ulong)fs.BlockSize;
        var imageBlocks = (ulong)fs.Device.Length / blockSize;
        foreach (var run in fs.EnumerateRuns(inode))
        {
            if (run.Kind == BlockRunKind.Data && run.Physical + run.Count > imageBlocks)
            {
                throw fs.Corrupt($"inode {inode.Number}: data blocks {run.Physical}..{run.Physical + run.Count - 1} are past the end of the {fs.Device.Length}-byte image (truncated?)");
            }
        }
    }
}
