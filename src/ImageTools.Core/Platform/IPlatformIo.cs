using Microsoft.Win32.SafeHandles;

namespace ImageTools.Core.Platform;

/// <summary>Whether the kernel re-read a disk's partition table.</summary>
public enum PartitionRereadResult
{
    /// <summary>The kernel now sees the partitions written to the disk.</summary>
    Done,
    /// <summary>A partition of the disk stayed in use (mounted, open) through every retry.</summary>
    StillBusy,
    /// <summary>The device does not take partitions (a partition itself, a loop device without partscan) or the OS has no such call.</summary>
    NotSupported,
}

/// <summary>Something that holds a block device: a mount, swap, or a device-mapper/md holder.</summary>
/// <param name="Device">The device (the disk itself or one of its partitions) that is in use.</param>
/// <param name="Description">How it is used, e.g. "mounted on /mnt" or "used as swap".</param>
public readonly record struct DeviceUse(string Device, string Description);

/// <summary>
/// The one place that talks to the operating system about storage. Everything else in the library is
/// portable and asks through this interface: where a file's data is, how big a block device is, how to zero
/// a range without writing it, how to flush, re-read a partition table, and whether a device is in use.
/// <see cref="PlatformIo.Current"/> picks the Linux implementation on Linux and a portable fallback
/// (every byte is data, no fast zeroing, no device calls) elsewhere.
/// </summary>
public interface IPlatformIo
{
    /// <summary>What the path is, following symlinks; <see cref="FileKind.Missing"/> when nothing is there.</summary>
    FileIdentity GetIdentity(string path);

    /// <summary>What an open handle is.</summary>
    FileIdentity GetIdentity(SafeFileHandle handle);

    /// <summary>
    /// The first data range at or after <paramref name="offset"/> of a regular file (SEEK_DATA/SEEK_HOLE), or
    /// null when only holes follow up to <paramref name="fileLength"/>. A file system that cannot say reports
    /// everything up to the end as data, which is always correct, only slower.
    /// </summary>
    Streams.Extent? FindNextData(SafeFileHandle handle, long offset, long fileLength);

    /// <summary>Tells the OS a file will be read front to back, so it reads ahead further (POSIX_FADV_SEQUENTIAL); a hint, never an error.</summary>
    void AdviseSequentialRead(SafeFileHandle handle);

    /// <summary>Size in bytes of an open block device (BLKGETSIZE64).</summary>
    long GetBlockDeviceSize(SafeFileHandle handle);

    /// <summary>
    /// Opens a block device for writing (or reading) exclusively (O_EXCL): the kernel refuses while the device
    /// or, for a whole disk, any of its partitions is mounted or claimed by another exclusive user.
    /// </summary>
    SafeFileHandle OpenBlockDevice(string path, bool write);

    /// <summary>
    /// True when <see cref="TryZeroRange"/> on this handle zeroes without writing data: a hole punch on a file,
    /// or a device whose hardware offloads WRITE ZEROES. Used to decide between zeroing and reading back.
    /// </summary>
    bool ZeroesCheaply(SafeFileHandle handle, FileKind kind);

    /// <summary>
    /// Makes a range read back as zeros without sending zero buffers: punches a hole in a regular file
    /// (FALLOC_FL_PUNCH_HOLE, keeping the size), BLKZEROOUT on a block device. False when not possible here;
    /// the caller then writes zeros itself.
    /// </summary>
    bool TryZeroRange(SafeFileHandle handle, FileKind kind, long offset, long length);

    /// <summary>
    /// Makes a new file keep unwritten ranges as holes. NTFS allocates (and zero-fills) every range below the
    /// highest write unless the file is marked sparse (FSCTL_SET_SPARSE); POSIX files are sparse already. True
    /// when the file is (now) sparse or always was; false where the file system has no sparse files (FAT).
    /// </summary>
    bool MarkSparse(SafeFileHandle handle);

    /// <summary>Forces written data to stable storage (fdatasync, or the portable flush).</summary>
    void FlushToDisk(SafeFileHandle handle);

    /// <summary>Asks the kernel to re-read a disk's partition table (BLKRRPART) while the handle stays open.</summary>
    /// <param name="handle">The open whole-disk device.</param>
    /// <param name="attempts">How often to try while the device is busy.</param>
    /// <param name="delay">The pause between attempts.</param>
    /// <param name="cancellation">Stops retrying.</param>
    PartitionRereadResult RereadPartitionTable(SafeFileHandle handle, int attempts, TimeSpan delay, CancellationToken cancellation);

    /// <summary>
    /// Every current use of a block device or of any of its partitions: mounts (mountinfo), swap, and holders
    /// (device mapper, md). Empty when the device is free, or where the OS cannot tell.
    /// </summary>
    IReadOnlyList<DeviceUse> FindUsesOfBlockDevice(DeviceNumber device);
}
