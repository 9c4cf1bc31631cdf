using ImageTools.Core.Ext.OnDisk;

namespace ImageTools.Core.Ext.Sources;

/// <summary>What a <see cref="FileEntry"/> describes.</summary>
public enum FileEntryType
{
    RegularFile,
    Directory,
    SymbolicLink,
    /// <summary>Another name for an earlier non-directory entry (<see cref="FileEntry.LinkTarget"/> is its path).</summary>
    HardLink,
    CharacterDevice,
    BlockDevice,
    Fifo,
    Socket,
}

/// <summary>One extended attribute by its full name ("user.comment", "security.capability",
/// "system.posix_acl_access") and raw value; POSIX ACLs are in the VFS (getxattr) form.</summary>
public sealed record ExtendedAttribute(string Name, byte[] Value);

/// <summary>A contiguous range of bytes that may hold data; everything outside the ranges reads as zero.</summary>
public readonly record struct DataRange(long Offset, long Length)
{
    public long End => Offset + Length;

    public override string ToString() => $"[{Offset}, {End})";
}

/// <summary>
/// One file, directory, link or node to put into a filesystem: the common currency of the three
/// producers (<see cref="DirectoryTreeSource"/>, <see cref="TarArchiveSource"/>, and entries built in
/// code). Paths are relative, '/'-separated, without "." or ".." components; "" is the root.
/// </summary>
public sealed class FileEntry
{
    /// <summary>Relative path, '/'-separated; "" for the root directory.</summary>
    public required string Path { get; init; }

    public required FileEntryType Type { get; init; }

    /// <summary>Permission bits including setuid (04000), setgid (02000) and sticky (01000).</summary>
    public int Permissions { get; init; } = Convert.ToInt32("644", 8);

    public uint Uid { get; init; }

    public uint Gid { get; init; }

    public ExtTimestamp ModificationTime { get; init; }

    /// <summary>Access time; null: the modification time.</summary>
    public ExtTimestamp? AccessTime { get; init; }

    /// <summary>Inode change time; null: the modification time.</summary>
    public ExtTimestamp? ChangeTime { get; init; }

    public uint DeviceMajor { get; init; }

    public uint DeviceMinor { get; init; }

    /// <summary>Symlink target (its bytes are stored as UTF-8), or the path of a hard link's target entry.</summary>
    public string? LinkTarget { get; init; }

    public IReadOnlyList<ExtendedAttribute> ExtendedAttributes { get; init; } = Array.Empty<ExtendedAttribute>();

    /// <summary>Content of a regular file; null means empty.</summary>
    public FileContent? Content { get; init; }

    public long Size => Content?.Length ?? 0;

    public override string ToString() => $"{Type} {(Path.Length == 0 ? "/" : Path)}";
}

/// <summary>
/// A regular file's bytes, opened lazily when the writer gets to the file, and able to say where its
/// data is (holes of sparse files are never read).
/// </summary>
public abstract class FileContent
{
    public abstract long Length { get; }

    /// <summary>Opens the bytes for one forward pass.</summary>
    public abstract IContentReader Open();

    /// <summary>Content held in memory (small files built in code).</summary>
    public static FileContent FromBytes(byte[] bytes) => new MemoryContent(bytes);

    /// <summary>
    /// Content generated piecewise: <paramref name="ranges"/> (ascending, non-overlapping) hold data produced by
    /// <paramref name="fill"/>(offset, buffer); everything else is a hole. Lets callers and tests describe huge
    /// sparse files without storing them.
    /// </summary>
    public static FileContent FromRanges(long length, IReadOnlyList<DataRange> ranges, Action<long, Span<byte>> fill) =>
        new GeneratedContent(length, ranges, fill);

    private sealed class MemoryContent(byte[] bytes) : FileContent
    {
        public override long Length => bytes.Length;

        public override IContentReader Open() => new Reader(bytes);

        private sealed class Reader(byte[] bytes) : IContentReader
        {
            public DataRange? NextData(long offset) => offset < bytes.Length ? new DataRange(offset, bytes.Length - offset) : null;

            public int Read(long position, Span<byte> buffer)
            {
                if (position >= bytes.Length)
                {
                    return 0;
                }
                var n = (int)Math.Min(buffer.Length, bytes.Length - position);
                bytes.AsSpan((int)position, n).CopyTo(buffer);
                return n;
            }

            public void Dispose()
            {
            }
        }
    }

    private sealed class GeneratedContent(long length, IReadOnlyList<DataRange> ranges, Action<long, Span<byte>> fill) : FileContent
    {
        public override long Length => length;

        public override IContentReader Open() => new Reader(length, ranges, fill);

        private sealed class Reader(long length, IReadOnlyList<DataRange> ranges, Action<long, Span<byte>> fill) : IContentReader
        {
            public DataRange? NextData(long offset)
            {
                foreach (var r in ranges)
                {
                    if (r.End > offset && r.Offset < length)
                    {
                        var start = Math.Max(r.Offset, offset);
                        return new DataRange(start, Math.Min(r.End, length) - start);
                    }
                }
                return null;
            }

            public int Read(long position, Span<byte> buffer)
            {
                if (position >= length)
                {
                    return 0;
                }
                var n = (int)Math.Min(buffer.Length, length - position);
                var span = buffer[..n];
                span.Clear();
                foreach (var r in ranges)
                {
                    var s = Math.Max(r.Offset, position);
                    var e = Math.Min(r.End, position + n);
                    if (s < e)
                    {
                        fill(s, span.Slice((int)(s - position), (int)(e - s)));
                    }
                }
                return n;
            }

            public void Dispose()
            {
            }
        }
    }
}

/// <summary>A forward pass over a file's bytes.</summary>
public interface IContentReader : IDisposable
{
    /// <summary>
    /// The first range at or after <paramref name="offset"/> that may hold non-zero bytes, or null when
    /// only holes follow. Bytes outside every returned range read as zero.
    /// </summary>
    DataRange? NextData(long offset);

    /// <summary>Reads at <paramref name="position"/> (never before the previous read's end); 0 only at the end.</summary>
    int Read(long position, Span<byte> buffer);
}

/// <summary>A producer of entries: a directory tree, a tar archive, or a list built in code.</summary>
public interface IFileTreeSource
{
    /// <summary>How to name the source in messages.</summary>
    string Description { get; }

    /// <summary>
    /// Whether <see cref="ReadEntries"/> may be called more than once (a first pass measures the content
    /// when no size is given). A pipe cannot; a file or directory can.
    /// </summary>
    bool CanReadTwice { get; }

    /// <summary>
    /// The entries. Content of an entry may only be opened before the enumeration moves on (a tar
    /// archive is read forward).
    /// </summary>
    IEnumerable<FileEntry> ReadEntries(CancellationToken cancellation);
}

/// <summary>Entries built in code (the library API).</summary>
public sealed class EntryListSource(IReadOnlyList<FileEntry> entries, string description = "entries") : IFileTreeSource
{
    public string Description => description;

    public bool CanReadTwice => true;

    public IEnumerable<FileEntry> ReadEntries(CancellationToken cancellation)
    {
        foreach (var e in entries)
        {
            cancellation.ThrowIfCancellationRequested();
            yield return e;
        }
    }
}
