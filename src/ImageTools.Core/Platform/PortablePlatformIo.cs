using Microsoft.Win32.SafeHandles;
using ImageTools.Core.Streams;

namespace ImageTools.Core.Platform;

/// <summary>
/// The fallback for systems without a dedicated implementation: every byte of a file is data, nothing is
/// zeroed cheaply, devices cannot be sized or re-scanned and no use of a device can be detected. Copies
/// stay correct (holes in DEST still come from skipped zero runs); they only read more.
/// </summary>
public sealed class PortablePlatformIo : IPlatformIo
{
    public FileIdentity GetIdentity(string path)
    {
        if (Directory.Exists(path))
        {
            return new FileIdentity(FileKind.Directory, default, 0, default, 0, 0, 0);
        }
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            return new FileIdentity(FileKind.Missing, default, 0, default, 0, 0, 0);
        }
        // Without inode numbers, the full path is the best identity available.
        var pseudoInode = (ulong)StringComparer.OrdinalIgnoreCase.GetHashCode(Path.GetFullPath(path));
        return new FileIdentity(FileKind.RegularFile, default, pseudoInode, default, info.Length, info.Length, 0);
    }

    public FileIdentity GetIdentity(SafeFileHandle handle)
    {
        var length = RandomAccess.GetLength(handle);
        return new FileIdentity(FileKind.RegularFile, default, 0, default, length, length, 0);
    }

    public Extent? FindNextData(SafeFileHandle handle, long offset, long fileLength) =>
        offset < fileLength ? new Extent(offset, fileLength - offset) : null;

    public void AdviseSequentialRead(SafeFileHandle handle)
    {
    }

    public long GetBlockDeviceSize(SafeFileHandle handle) =>
        throw new ImageToolsException(ErrorKind.UnsupportedFeature, "block devices are only supported on Linux");

    public SafeFileHandle OpenBlockDevice(string path, bool write) =>
        File.OpenHandle(path, FileMode.Open, write ? FileAccess.ReadWrite : FileAccess.Read, FileShare.None);

    public bool ZeroesCheaply(SafeFileHandle handle, FileKind kind) => false;

    public bool TryZeroRange(SafeFileHandle handle, FileKind kind, long offset, long length) => false;

    /// <summary>POSIX files are sparse by nature: unwritten ranges stay holes where the file system has them.</summary>
    public bool MarkSparse(SafeFileHandle handle) => true;

    public void FlushToDisk(SafeFileHandle handle) => RandomAccess.FlushToDisk(handle);

    public PartitionRereadResult RereadPartitionTable(SafeFileHandle handle, int attempts, TimeSpan delay, CancellationToken cancellation) =>
        PartitionRereadResult.NotSupported;

    public IReadOnlyList<DeviceUse> FindUsesOfBlockDevice(DeviceNumber device) => Array.Empty<DeviceUse>();
}
