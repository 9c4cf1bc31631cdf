using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace ImageTools.Core.Platform;

/// <summary>
/// The size of a block device, which <see cref="FileStream.Length"/> reports as 0 (fstat gives no size
/// for devices): on Linux, lseek to the end answers for any block device. (Interim: the sparsecopy
/// work's IPlatformIo.GetBlockDeviceSize does this with BLKGETSIZE64 once it is on main.)
/// </summary>
public static partial class DeviceLength
{
    private const int SeekEnd = 2;

    /// <summary>The device's size in bytes, or null where it cannot be asked.</summary>
    public static long? Of(SafeFileHandle handle)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }
        var fd = (int)handle.DangerousGetHandle();
        var end = LSeek(fd, 0, SeekEnd);
        // The stream keeps its own position and seeks before each read, so leaving the descriptor at the end is harmless.
        return end > 0 ? end : null;
    }

    [LibraryImport("libc", EntryPoint = "lseek64", SetLastError = true)]
    private static partial long LSeek(int fd, long offset, int whence);
}
