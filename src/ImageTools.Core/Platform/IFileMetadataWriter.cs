namespace ImageTools.Core.Platform;

/// <summary>
/// Creates the nodes a plain file API cannot (device nodes, FIFOs, sockets, hard links) and restores
/// what it does not (numeric owner, all 12 permission bits, times with nanoseconds on links too,
/// extended attributes). Used when a filesystem image is exported to a directory.
/// <see cref="FileMetadataWriter.ForCurrentPlatform"/> gives the Linux implementation on Linux and a
/// portable fallback elsewhere (modes and modification times only; the rest is reported as unsupported).
/// </summary>
public interface IFileMetadataWriter
{
    /// <summary>Whether owners can be set (the process runs as root), as tar restores them only then.</summary>
    bool CanChangeOwner { get; }

    /// <summary>Whether device nodes can be created here (root on Linux).</summary>
    bool CanCreateDevices { get; }

    /// <summary>Sets the numeric owner of the path itself, not of a link's target (lchown).</summary>
    void SetOwner(string path, uint uid, uint gid);

    /// <summary>Sets the 12 permission bits (07777) of a file or directory (never called on symlinks).</summary>
    void SetMode(string path, int permissions);

    /// <summary>Sets access and modification times with nanoseconds, on a symlink itself when the path is one.</summary>
    void SetTimes(string path, UnixTime access, UnixTime modification);

    void CreateDevice(string path, bool block, uint major, uint minor, int permissions);

    void CreateFifo(string path, int permissions);

    void CreateSocket(string path, int permissions);

    void CreateHardLink(string existing, string link);

    /// <summary>Sets one extended attribute on the path itself (lsetxattr); POSIX ACLs in their getxattr form.</summary>
    void SetXattr(string path, string name, byte[] value);
}

/// <summary>A platform call failed; <see cref="Errno"/> says why (EPERM, ENOTSUP...), when known.</summary>
public sealed class PlatformCallFailedException(ErrorKind kind, string message, int? errno) : ImageToolsException(kind, message)
{
    public int? Errno { get; } = errno;

    /// <summary>EPERM or EACCES: not allowed for this user.</summary>
    public bool IsPermissionDenied => Errno is 1 or 13;

    /// <summary>ENOTSUP/EOPNOTSUPP: the destination filesystem cannot hold it (e.g. xattrs on tmpfs without support).</summary>
    public bool IsNotSupported => Errno is 95 || Errno == null;
}

/// <summary>Picks the <see cref="IFileMetadataWriter"/> for the running OS.</summary>
public static class FileMetadataWriter
{
    public static IFileMetadataWriter ForCurrentPlatform() =>
        OperatingSystem.IsLinux() ? new LinuxFileMetadataWriter() : new PortableFileMetadataWriter();
}
