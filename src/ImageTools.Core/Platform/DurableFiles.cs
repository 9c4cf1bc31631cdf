using System.Runtime.InteropServices;

namespace ImageTools.Core.Platform;

/// <summary>
/// What crash-safe file updates need from the OS beyond <see cref="IPlatformIo.FlushToDisk"/>: a
/// directory's entries (a rename, a new or deleted file) forced to stable storage. On Linux that is
/// fsync on the directory itself (a rename is only durable once its directory is synced); elsewhere it is
/// a no-op (Windows has no such call; NTFS journals renames).
/// </summary>
public static partial class DurableFiles
{
    /// <summary>Forces the entries of <paramref name="directory"/> to stable storage (Linux: fsync on the directory).</summary>
    public static void FlushDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        var fd = Open(directory, ORdOnly | ODirectory | OCloExec);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"{directory}: cannot open the directory to sync it: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        try
        {
            if (FSync(fd) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                // EINVAL: the filesystem cannot sync directories (some FUSE mounts); the rename is as durable as it gets there.
                if (errno != EInval)
                {
                    throw new IOException($"{directory}: fsync failed: {Marshal.GetPInvokeErrorMessage(errno)}");
                }
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    private const int ORdOnly = 0;
    private const int ODirectory = 0x10000;
    private const int OCloExec = 0x80000;
    private const int EInval = 22;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
