using System.Text;
using ImageTools.Core.Platform;

namespace ImageTools.Core.Imaging.Export;

/// <summary>What an exported node is.</summary>
public enum ExportEntryKind
{
    Directory,
    RegularFile,
    SymbolicLink,
    /// <summary>A further name of a file already exported (<see cref="ExportEntry.HardLinkTarget"/>).</summary>
    HardLink,
    CharacterDevice,
    BlockDevice,
    Fifo,
    Socket,
}

/// <summary>An extended attribute as getxattr returns it (POSIX ACLs in the VFS form).</summary>
public sealed record ExportXattr(string Name, byte[] Value);

/// <summary>
/// A file's content for a sink: its length, a stream of all of it, and where its data is, so a sink
/// can keep holes as holes (a sparse file on disk) instead of writing zeros.
/// </summary>
public interface IExportContent
{
    long Length { get; }

    /// <summary>The whole content, holes as zeros.</summary>
    Stream OpenRead();

    /// <summary>Byte ranges that hold data, ascending; everything else reads as zeros.</summary>
    IEnumerable<(long Offset, long Length)> DataRanges();
}

/// <summary>
/// One node of a tree being exported, with everything an archive or a restoring copy needs: type,
/// permissions (setuid/setgid/sticky included), numeric owner, times with nanoseconds, device
/// numbers, link targets and xattrs.
/// </summary>
public sealed record ExportEntry
{
    /// <summary>The path relative to the export's root, '/'-separated; "." is the root itself.</summary>
    public required string Path { get; init; }

    /// <summary>The same path as bytes, exact even when a name is not UTF-8.</summary>
    public required byte[] PathBytes { get; init; }

    public required ExportEntryKind Kind { get; init; }

    /// <summary>The 12 permission bits (07777).</summary>
    public required int Permissions { get; init; }

    public required uint Uid { get; init; }

    public required uint Gid { get; init; }

    public required UnixTime AccessTime { get; init; }

    public required UnixTime ModificationTime { get; init; }

    public required UnixTime ChangeTime { get; init; }

    /// <summary>Creation time, when the source keeps one.</summary>
    public UnixTime? BirthTime { get; init; }

    /// <summary>Content length of a regular file; 0 otherwise.</summary>
    public long Size { get; init; }

    public uint DeviceMajor { get; init; }

    public uint DeviceMinor { get; init; }

    /// <summary>A symbolic link's target bytes.</summary>
    public byte[]? LinkTarget { get; init; }

    /// <summary>For a hard link: the path (relative, as <see cref="Path"/>) exported first for the same file.</summary>
    public byte[]? HardLinkTarget { get; init; }

    /// <summary>The kind of the node the hard link points at (a hard link may name a symlink or a device).</summary>
    public ExportEntryKind HardLinkTargetKind { get; init; }

    public IReadOnlyList<ExportXattr> Xattrs { get; init; } = Array.Empty<ExportXattr>();

    /// <summary>A regular file's content.</summary>
    public IExportContent? Content { get; init; }

    /// <summary>Inode number in the source (for messages).</summary>
    public uint SourceInode { get; init; }

    /// <summary>The link target as text (UTF-8).</summary>
    public string? LinkTargetText => LinkTarget == null ? null : Encoding.UTF8.GetString(LinkTarget);

    public string? HardLinkTargetText => HardLinkTarget == null ? null : Encoding.UTF8.GetString(HardLinkTarget);

    public override string ToString() => $"{Kind} {Path}";
}

/// <summary>
/// Where an export goes: a tar archive, a directory, or (in tests) nowhere. The exporter calls
/// <see cref="Add"/> for each node, parents before children, then <see cref="Complete"/> once.
/// A sink throws <see cref="ImageToolsException"/> for what stops the export (the destination cannot be
/// written) and reports what it had to leave out (a socket in a tar, a device without root) through
/// the notice callback it was given.
/// </summary>
public interface IExportSink
{
    void Add(ExportEntry entry);

    /// <summary>Finishes: deferred links, directory times and modes, the archive's end.</summary>
    void Complete();
}
