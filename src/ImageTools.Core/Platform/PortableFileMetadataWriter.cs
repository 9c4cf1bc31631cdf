namespace ImageTools.Core.Platform;

/// <summary>
/// The fallback where the Linux calls are not available: permission bits (on Unix-like systems) and
/// times through the BCL; owners, special files, hard links and xattrs are refused with an error that
/// says so, which an export reports and skips.
/// </summary>
public sealed class PortableFileMetadataWriter : IFileMetadataWriter
{
    public bool CanChangeOwner => false;

    public bool CanCreateDevices => false;

    public void SetOwner(string path, uint uid, uint gid) => throw Unsupported(path, "setting owners");

    public void SetMode(string path, int permissions)
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, (UnixFileMode)(permissions & 0xFFF));
        }
    }

    public void SetTimes(string path, UnixTime access, UnixTime modification)
    {
        if (Directory.Exists(path))
        {
            Directory.SetLastAccessTimeUtc(path, access.ToDateTimeOffset().UtcDateTime);
            Directory.SetLastWriteTimeUtc(path, modification.ToDateTimeOffset().UtcDateTime);
            return;
        }
        File.SetLastAccessTimeUtc(path, access.ToDateTimeOffset().UtcDateTime);
        File.SetLastWriteTimeUtc(path, modification.ToDateTimeOffset().UtcDateTime);
    }

    public void CreateDevice(string path, bool block, uint major, uint minor, int permissions) => throw Unsupported(path, "creating device nodes");

    public void CreateFifo(string path, int permissions) => throw Unsupported(path, "creating FIFOs");

    public void CreateSocket(string path, int permissions) => throw Unsupported(path, "creating sockets");

    public void CreateHardLink(string existing, string link) => throw Unsupported(link, "creating hard links");

    public void SetXattr(string path, string name, byte[] value) => throw Unsupported(path, "setting extended attributes");

    private static PlatformCallFailedException Unsupported(string path, string what) =>
        new(ErrorKind.UnsupportedFeature, $"{path}: {what} is not supported on this platform", null) { Path = path };
}
