using ImageTools.Core.Platform;
using Microsoft.Win32.SafeHandles;

namespace ImageTools.Core.Sparse;

/// <summary>
/// A block device DEST (a USB stick, a loop device, a partition). Opened only when neither it nor any of its
/// partitions is in use (mountinfo, swap, holders), and then exclusively (O_EXCL), so nothing can mount it
/// during the copy. After the copy: flush, then — the device still open — ask the kernel to re-read the
/// partition table, retrying while busy (v0.10 closed the device first, so its re-read never happened).
/// </summary>
public sealed class BlockDeviceCopyTarget : HandleCopyTarget
{
    /// <summary>BLKRRPART retries while a partition is still busy (v0.10: 40 tries, 250 ms apart).</summary>
    public const int RereadAttempts = 40;

    public static readonly TimeSpan RereadDelay = TimeSpan.FromMilliseconds(250);

    private BlockDeviceCopyTarget(string name, SafeFileHandle handle, long size, IPlatformIo platform)
        : base(name, handle, FileKind.BlockDevice, 0, knownZeroFrom: size, capacity: size, ownsHandle: true, platform)
    {
    }

    public override long? ExistingLength => Capacity;

    /// <summary>Checks that the device is free, then opens it exclusively for writing.</summary>
    public static BlockDeviceCopyTarget Open(string path, IPlatformIo? platform = null)
    {
        platform ??= PlatformIo.Current;
        var identity = platform.Identify(path, ErrorKind.DestinationUnwritable, "DEST");
        if (identity.Kind != FileKind.BlockDevice)
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"DEST {path} is not a block device") { Path = path };
        }
        var uses = platform.FindUsesOfBlockDevice(identity.SpecialDevice);
        if (uses.Count > 0)
        {
            var list = string.Join("; ", uses.Select(u => $"{u.Device} is {u.Description}"));
            throw new ImageToolsException(ErrorKind.DeviceBusy, $"refusing to write DEST {path}: {list}; unmount it first") { Path = path };
        }
        SafeFileHandle handle;
        try
        {
            handle = platform.OpenBlockDevice(path, write: true);
        }
        catch (IOException e)
        {
            throw new ImageToolsException(ErrorKind.DestinationUnwritable, $"cannot open DEST {path}: {e.Message}", e) { Path = path };
        }
        catch (UnauthorizedAccessException e)
        {
            throw new ImageToolsException(ErrorKind.DestinationUnwritable, $"cannot open DEST {path}: {e.Message}", e) { Path = path };
        }
        try
        {
            var size = platform.GetBlockDeviceSize(handle);
            return new BlockDeviceCopyTarget(path, handle, size, platform);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public override void Finish(long endOffset, long? finalSize)
    {
        // A device has the size it has; --finalsize is ignored for devices, as in v0.10.
        try
        {
            FlushToDisk();
        }
        catch (IOException e)
        {
            throw new ImageToolsException(ErrorKind.WriteFailed, $"cannot flush DEST {Name}: {e.Message}", e) { Path = Name };
        }
    }

    public override TargetCompletion Commit(CancellationToken cancellation)
    {
        PartitionRereadResult result;
        try
        {
            result = Platform.RereadPartitionTable(Handle, RereadAttempts, RereadDelay, cancellation);
        }
        catch (IOException)
        {
            result = PartitionRereadResult.NotSupported;
        }
        return new TargetCompletion(result);
    }
}
