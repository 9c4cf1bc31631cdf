namespace ImageTools.Core.Platform;

/// <summary>What kind of file system object a path or open handle is.</summary>
public enum FileKind
{
    /// <summary>Nothing exists at the path.</summary>
    Missing,
    RegularFile,
    Directory,
    BlockDevice,
    /// <summary>A character device such as <c>/dev/null</c> or a tty: read and written as a stream.</summary>
    CharacterDevice,
    /// <summary>A pipe or FIFO (stdin in <c>gzip -dc | sparsecopy -</c>): a stream, never seekable.</summary>
    Pipe,
    Socket,
    Other,
}

/// <summary>A device number as the kernel reports it (<c>major:minor</c>), e.g. 7:0 for /dev/loop0.</summary>
public readonly record struct DeviceNumber(uint Major, uint Minor)
{
    public override string ToString() => $"{Major}:{Minor}";
}

/// <summary>
/// The identity of a file: enough to tell whether two paths are the same object (same device and inode,
/// or the same block device through two nodes) and what kind of object it is.
/// </summary>
/// <param name="Kind">What the path is.</param>
/// <param name="Device">The file system the inode lives on (<c>st_dev</c>).</param>
/// <param name="Inode">The inode number (<c>st_ino</c>).</param>
/// <param name="SpecialDevice">For a device node, the device it stands for (<c>st_rdev</c>).</param>
/// <param name="Size">Apparent size in bytes (0 for devices; ask <see cref="IPlatformIo.GetBlockDeviceSize"/>).</param>
/// <param name="AllocatedBytes">Bytes allocated on disk (<c>st_blocks</c> × 512), when known.</param>
/// <param name="UnixMode">Permission bits (<c>st_mode &amp; 07777</c>).</param>
public readonly record struct FileIdentity(
    FileKind Kind,
    DeviceNumber Device,
    ulong Inode,
    DeviceNumber SpecialDevice,
    long Size,
    long AllocatedBytes,
    uint UnixMode)
{
    public bool Exists => Kind != FileKind.Missing;

    /// <summary>True when both identities name the same object (same inode, or same block device).</summary>
    public bool IsSameObjectAs(FileIdentity other)
    {
        if (!Exists || !other.Exists)
        {
            return false;
        }
        if (Kind == FileKind.BlockDevice && other.Kind == FileKind.BlockDevice)
        {
            return SpecialDevice == other.SpecialDevice;
        }
        return Device == other.Device && Inode == other.Inode;
    }
}
