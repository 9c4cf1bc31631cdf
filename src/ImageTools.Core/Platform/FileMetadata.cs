using Microsoft.Win32.SafeHandles;

namespace ImageTools.Core.Platform;

/// <summary>What kind of node a path is (not following symlinks).</summary>
public enum FileNodeKind
{
    Unknown,
    RegularFile,
    Directory,
    SymbolicLink,
    CharacterDevice,
    BlockDevice,
    Fifo,
    Socket,
}

/// <summary>A timestamp with nanoseconds, seconds since 1970 (negative before).</summary>
public readonly record struct FileTime(long Seconds, uint Nanoseconds);

/// <summary>
/// Everything a filesystem builder needs to know about one source path, as lstat/statx report it:
/// type, permission bits (with setuid/setgid/sticky), owner, times with nanoseconds, device numbers,
/// and the (device, inode) identity and link count used to find hard links.
/// </summary>
public sealed record FileMetadata(
    FileNodeKind Kind,
    int Permissions,
    uint Uid,
    uint Gid,
    FileTime AccessTime,
    FileTime ModificationTime,
    FileTime ChangeTime,
    uint RdevMajor,
    uint RdevMinor,
    ulong Device,
    ulong Inode,
    uint LinkCount,
    long Size);

/// <summary>
/// Reads file metadata and extended attributes of a source tree. On Linux through statx(2)
/// (nanosecond times, 32-bit ids, device numbers) and llistxattr/lgetxattr; elsewhere through .NET's
/// FileSystemInfo, which knows types, modes and times but not owners, devices or xattrs.
/// The calls live here so that the rest of the library stays portable (docs/architecture.md).
/// </summary>
public static partial class FileMetadataReader
{
    /// <summary>Whether owners, device numbers, inode identities and xattrs are available (Linux).</summary>
    public static bool IsComplete => OperatingSystem.IsLinux();

    /// <summary>The effective user ID of this process (geteuid), or null where the OS has no such thing.</summary>
    public static uint? EffectiveUserId => OperatingSystem.IsLinux() ? FileMetadataNative.geteuid() : null;

    /// <summary>The metadata of <paramref name="path"/> itself (a symlink is not followed).</summary>
    public static FileMetadata Get(string path) => OperatingSystem.IsLinux() ? LinuxGet(path) : PortableGet(path);

    /// <summary>The extended attributes of <paramref name="path"/> itself, by full name, in the order the OS lists them.</summary>
    public static IReadOnlyList<(string Name, byte[] Value)> GetExtendedAttributes(string path) =>
        OperatingSystem.IsLinux() ? LinuxXattrs(path) : Array.Empty<(string, byte[])>();

    private static FileMetadata PortableGet(string path)
    {
        FileSystemInfo info = new FileInfo(path);
        if (!info.Exists)
        {
            info = new DirectoryInfo(path);
            if (!info.Exists)
            {
                throw new FileNotFoundException($"{path}: no such file or directory", path);
            }
        }
        var kind = info.LinkTarget != null ? FileNodeKind.SymbolicLink
            : info is DirectoryInfo ? FileNodeKind.Directory
            : FileNodeKind.RegularFile;
        var mode = OperatingSystem.IsWindows() ? (kind == FileNodeKind.Directory ? 0x1ED : 0x1A4) : (int)info.UnixFileMode;
        static FileTime Time(DateTime utc)
        {
            var ticks = utc.Ticks - DateTime.UnixEpoch.Ticks;
            var seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out var rest);
            if (rest < 0)
            {
                seconds--;
                rest += TimeSpan.TicksPerSecond;
            }
            return new FileTime(seconds, (uint)(rest * 100));
        }
        var size = info is FileInfo f && kind == FileNodeKind.RegularFile ? f.Length : 0;
        return new FileMetadata(kind, mode, 0, 0, Time(info.LastAccessTimeUtc), Time(info.LastWriteTimeUtc), Time(info.LastWriteTimeUtc),
            0, 0, 0, 0, 1, size);
    }
}
