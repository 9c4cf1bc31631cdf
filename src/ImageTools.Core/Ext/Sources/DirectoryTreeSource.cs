using System.Text;
using ImageTools.Core.Ext.OnDisk;
using ImageTools.Core.Platform;
using Microsoft.Win32.SafeHandles;

namespace ImageTools.Core.Ext.Sources;

/// <summary>
/// Walks a directory tree depth-first, names sorted as bytes (so inode numbers and directory order
/// are the same on every run), and describes each node as a <see cref="FileEntry"/>: type, mode,
/// owner, times with nanoseconds, device numbers, symlink targets, xattrs (POSIX ACLs included), and
/// hard links (a later path to an inode already seen, found by device and inode number). The root
/// directory's own attributes become those of the filesystem root, as <c>rsync -a tree/ /mnt</c> does.
/// File contents are opened lazily and read by data range, so holes are never read.
/// </summary>
public sealed class DirectoryTreeSource : IFileTreeSource
{
    private readonly string _root;

    public DirectoryTreeSource(string root)
    {
        var full = Path.GetFullPath(root);
        // The root itself may be a symlink to the tree (like 'rootfs -> build/rootfs'): follow it.
        if (Directory.Exists(full) && new DirectoryInfo(full).LinkTarget != null)
        {
            full = Directory.ResolveLinkTarget(full, returnFinalTarget: true)?.FullName ?? full;
        }
        _root = full;
    }

    public string Description => _root;

    public bool CanReadTwice => true;

    public IEnumerable<FileEntry> ReadEntries(CancellationToken cancellation)
    {
        var rootMeta = Stat(_root, "");
        if (rootMeta.Kind != FileNodeKind.Directory)
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"{_root}: is not a directory") { Path = _root };
        }
        var seen = new Dictionary<(ulong Device, ulong Inode), string>();
        yield return MakeEntry(_root, "", rootMeta, seen);
        foreach (var e in Walk(_root, "", cancellation, seen))
        {
            yield return e;
        }
    }

    private IEnumerable<FileEntry> Walk(string fullPath, string relative, CancellationToken cancellation, Dictionary<(ulong, ulong), string> seen)
    {
        List<(byte[] Key, string Name)> names;
        try
        {
            names = Directory.EnumerateFileSystemEntries(fullPath)
                .Select(p => Path.GetFileName(p))
                .Select(n => (Encoding.UTF8.GetBytes(n), n))
                .ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable, $"{fullPath}: cannot list the directory: {e.Message}", e) { Path = fullPath };
        }
        names.Sort((a, b) => a.Key.AsSpan().SequenceCompareTo(b.Key));

        foreach (var (_, name) in names)
        {
            cancellation.ThrowIfCancellationRequested();
            if (name.Contains('\uFFFD'))
            {
                throw new ImageToolsException(ErrorKind.SourceUnreadable,
                    $"{Path.Combine(fullPath, name)}: the file name is not valid UTF-8 and cannot be read faithfully") { Path = fullPath };
            }
            var childFull = Path.Combine(fullPath, name);
            var childRelative = relative.Length == 0 ? name : relative + "/" + name;
            var meta = Stat(childFull, childRelative);
            yield return MakeEntry(childFull, childRelative, meta, seen);
            if (meta.Kind == FileNodeKind.Directory)
            {
                foreach (var e in Walk(childFull, childRelative, cancellation, seen))
                {
                    yield return e;
                }
            }
        }
    }

    private static FileMetadata Stat(string fullPath, string relative)
    {
        try
        {
            return FileMetadataReader.Get(fullPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable, $"{fullPath}: cannot read its attributes: {e.Message}", e) { Path = relative };
        }
    }

    private static FileEntry MakeEntry(string fullPath, string relative, FileMetadata meta, Dictionary<(ulong, ulong), string> seen)
    {
        if (meta.Kind != FileNodeKind.Directory && meta.LinkCount > 1 && FileMetadataReader.IsComplete)
        {
            if (seen.TryGetValue((meta.Device, meta.Inode), out var first))
            {
                return new FileEntry { Path = relative, Type = FileEntryType.HardLink, LinkTarget = first };
            }
            seen[(meta.Device, meta.Inode)] = relative;
        }

        IReadOnlyList<ExtendedAttribute> xattrs;
        try
        {
            xattrs = FileMetadataReader.GetExtendedAttributes(fullPath).Select(x => new ExtendedAttribute(x.Name, x.Value)).ToList();
        }
        catch (IOException e)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable, $"{fullPath}: cannot read its extended attributes: {e.Message}", e) { Path = relative };
        }

        var type = meta.Kind switch
        {
            FileNodeKind.RegularFile => FileEntryType.RegularFile,
            FileNodeKind.Directory => FileEntryType.Directory,
            FileNodeKind.SymbolicLink => FileEntryType.SymbolicLink,
            FileNodeKind.CharacterDevice => FileEntryType.CharacterDevice,
            FileNodeKind.BlockDevice => FileEntryType.BlockDevice,
            FileNodeKind.Fifo => FileEntryType.Fifo,
            FileNodeKind.Socket => FileEntryType.Socket,
            _ => throw new ImageToolsException(ErrorKind.SourceUnreadable, $"{fullPath}: is of an unknown file type") { Path = relative },
        };

        string? linkTarget = null;
        if (type == FileEntryType.SymbolicLink)
        {
            try
            {
                linkTarget = new FileInfo(fullPath).LinkTarget;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ImageToolsException(ErrorKind.SourceUnreadable, $"{fullPath}: cannot read the symbolic link: {e.Message}", e) { Path = relative };
            }
        }

        return new FileEntry
        {
            Path = relative,
            Type = type,
            Permissions = meta.Permissions,
            Uid = meta.Uid,
            Gid = meta.Gid,
            ModificationTime = new ExtTimestamp(meta.ModificationTime.Seconds, meta.ModificationTime.Nanoseconds),
            AccessTime = new ExtTimestamp(meta.AccessTime.Seconds, meta.AccessTime.Nanoseconds),
            ChangeTime = new ExtTimestamp(meta.ChangeTime.Seconds, meta.ChangeTime.Nanoseconds),
            DeviceMajor = meta.RdevMajor,
            DeviceMinor = meta.RdevMinor,
            LinkTarget = linkTarget,
            ExtendedAttributes = xattrs,
            Content = type == FileEntryType.RegularFile && meta.Size > 0 ? new LocalFileContent(fullPath, meta.Size) : null,
        };
    }

    /// <summary>A local file's bytes: opened on demand, read by data range (SEEK_DATA/SEEK_HOLE).</summary>
    private sealed class LocalFileContent(string path, long length) : FileContent
    {
        public override long Length => length;

        public override IContentReader Open()
        {
            SafeFileHandle handle;
            try
            {
                handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.SequentialScan);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new IOException(e.Message, e); // .NET's message already names the path
            }
            return new Reader(handle, length);
        }

        private sealed class Reader(SafeFileHandle handle, long length) : IContentReader
        {
            public DataRange? NextData(long offset) =>
                PlatformIo.Current.FindNextData(handle, offset, length) is { } r ? new DataRange(r.Offset, r.Length) : null;

            public int Read(long position, Span<byte> buffer) => RandomAccess.Read(handle, buffer, position);

            public void Dispose() => handle.Dispose();
        }
    }
}
