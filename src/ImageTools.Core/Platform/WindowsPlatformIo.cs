using System.Text.RegularExpressions;
using ImageTools.Core.Streams;
using Microsoft.Win32.SafeHandles;

namespace ImageTools.Core.Platform;

/// <summary>
/// Windows: FSCTL_QUERY_ALLOCATED_RANGES for data ranges (holes of a sparse NTFS/ReFS file are never read),
/// FSCTL_SET_SPARSE + FSCTL_SET_ZERO_DATA to zero a range of a file without writing it (the file is made sparse
/// on first use, so the range is deallocated), IOCTL_DISK_GET_LENGTH_INFO for the size of <c>\\.\PhysicalDriveN</c>
/// and volumes, IOCTL_DISK_UPDATE_PROPERTIES to re-read a partition table, and volume serial + file index as a
/// file's identity. Every call goes through <see cref="IWindowsStorageCalls"/>, so the logic here is unit-tested
/// on Linux with a simulated volume (tests/ImageTools.Core.Tests/Devices/WindowsPlatformIoTests.cs).
/// </summary>
public sealed partial class WindowsPlatformIo : IPlatformIo
{
    // Win32 error codes (winerror.h).
    internal const int ERROR_INVALID_FUNCTION = 1;
    internal const int ERROR_NOT_SUPPORTED = 50;
    internal const int ERROR_INVALID_PARAMETER = 87;
    internal const int ERROR_MORE_DATA = 234;

    // GetFileType results and file attributes.
    private const uint FILE_TYPE_DISK = 1;
    private const uint FILE_TYPE_CHAR = 2;
    private const uint FILE_TYPE_PIPE = 3;
    private const uint FILE_ATTRIBUTE_DIRECTORY = 0x10;
    private const uint FILE_ATTRIBUTE_SPARSE_FILE = 0x200;

    /// <summary>Ranges asked for per FSCTL_QUERY_ALLOCATED_RANGES call; adjacent ones are merged into one extent.</summary>
    internal const int RangesPerQuery = 64;

    /// <summary>The device-number major given to Windows devices, so that two names of one disk compare equal.</summary>
    private const uint PhysicalDriveMajor = 1;
    private const uint VolumeMajor = 2;

    private readonly IWindowsStorageCalls _calls;

    public WindowsPlatformIo()
        : this(new Kernel32StorageCalls())
    {
    }

    internal WindowsPlatformIo(IWindowsStorageCalls calls) => _calls = calls;

    [GeneratedRegex(@"^[\\/]{2}[.?][\\/]PhysicalDrive(?<n>[0-9]+)$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex PhysicalDrivePath();

    [GeneratedRegex(@"^[\\/]{2}[.?][\\/](?<letter>[A-Z]):$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex VolumePath();

    /// <summary>
    /// The device a path names: <c>\\.\PhysicalDriveN</c> (a whole disk) or <c>\\.\C:</c> (a volume), with a device
    /// number that is the same for every spelling of it; null for anything else (C:\disk.img, \\server\share\x).
    /// </summary>
    public static DeviceNumber? ParseDevicePath(string path)
    {
        var drive = PhysicalDrivePath().Match(path);
        if (drive.Success && uint.TryParse(drive.Groups["n"].Value, out var n))
        {
            return new DeviceNumber(PhysicalDriveMajor, n);
        }
        var volume = VolumePath().Match(path);
        if (volume.Success)
        {
            return new DeviceNumber(VolumeMajor, (uint)(char.ToUpperInvariant(volume.Groups["letter"].Value[0]) - 'A'));
        }
        return null;
    }

    public FileIdentity GetIdentity(string path)
    {
        if (ParseDevicePath(path) is { } device)
        {
            return new FileIdentity(FileKind.BlockDevice, default, 0, device, 0, 0, 0);
        }
        if (Directory.Exists(path))
        {
            return new FileIdentity(FileKind.Directory, default, 0, default, 0, 0, 0);
        }
        if (!File.Exists(path))
        {
            return new FileIdentity(FileKind.Missing, default, 0, default, 0, 0, 0);
        }
        try
        {
            // Read attributes only (no FILE_READ_DATA), shared with everyone: works on files another program has open.
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            return GetIdentity(handle);
        }
        catch (UnauthorizedAccessException)
        {
            var info = new FileInfo(path);
            return new FileIdentity(FileKind.RegularFile, default, 0, default, info.Length, info.Length, 0);
        }
    }

    public FileIdentity GetIdentity(SafeFileHandle handle)
    {
        var type = _calls.GetFileType(handle);
        if (type == FILE_TYPE_PIPE)
        {
            return new FileIdentity(FileKind.Pipe, default, 0, default, 0, 0, 0);
        }
        if (type == FILE_TYPE_CHAR)
        {
            return new FileIdentity(FileKind.CharacterDevice, default, 0, default, 0, 0, 0);
        }
        if (type != FILE_TYPE_DISK)
        {
            return new FileIdentity(FileKind.Other, default, 0, default, 0, 0, 0);
        }
        var error = _calls.GetFileInformation(handle, out var info);
        if (error != 0)
        {
            // A disk or volume opened by its \\.\ name has no file information; it answers the disk length instead.
            if (_calls.GetDiskLength(handle, out _) == 0)
            {
                return new FileIdentity(FileKind.BlockDevice, default, 0, default, 0, 0, 0);
            }
            throw new IOException($"cannot query an open file: {Win32Message(error)}");
        }
        var kind = (info.Attributes & FILE_ATTRIBUTE_DIRECTORY) != 0 ? FileKind.Directory : FileKind.RegularFile;
        // The volume serial number and the file index identify a file on Windows as st_dev and st_ino do on POSIX.
        return new FileIdentity(kind, new DeviceNumber(0, info.VolumeSerialNumber), info.FileIndex, default, info.EndOfFile, info.AllocationSize, 0);
    }

    public Extent? FindNextData(SafeFileHandle handle, long offset, long fileLength)
    {
        if (offset >= fileLength)
        {
            return null;
        }
        Span<AllocatedRange> ranges = stackalloc AllocatedRange[RangesPerQuery];
        var error = _calls.QueryAllocatedRanges(handle, offset, fileLength - offset, ranges, out var count);
        if (error != 0 && error != ERROR_MORE_DATA)
        {
            if (error is ERROR_INVALID_FUNCTION or ERROR_NOT_SUPPORTED or ERROR_INVALID_PARAMETER)
            {
                return new Extent(offset, fileLength - offset); // FAT, exFAT, a network share: no ranges, all data
            }
            throw new IOException($"FSCTL_QUERY_ALLOCATED_RANGES at offset {offset} failed: {Win32Message(error)}");
        }
        if (count == 0)
        {
            // ERROR_MORE_DATA with nothing returned cannot happen with room for 64 ranges; treat it as data, never as a hole.
            return error == ERROR_MORE_DATA ? new Extent(offset, fileLength - offset) : null;
        }
        // Ranges come sorted and clipped to the query, but NTFS splits long runs: merge those that touch.
        var start = Math.Max(ranges[0].Offset, offset);
        var end = ranges[0].Offset + ranges[0].Length;
        for (var i = 1; i < count && ranges[i].Offset <= end; i++)
        {
            end = Math.Max(end, ranges[i].Offset + ranges[i].Length);
        }
        end = Math.Min(end, fileLength);
        return end > start ? new Extent(start, end - start) : FindNextData(handle, end, fileLength);
    }

    public void AdviseSequentialRead(SafeFileHandle handle)
    {
        // FILE_FLAG_SEQUENTIAL_SCAN is chosen at open time on Windows; there is nothing to say to an open handle.
    }

    public long GetBlockDeviceSize(SafeFileHandle handle)
    {
        var error = _calls.GetDiskLength(handle, out var length);
        if (error != 0)
        {
            throw new IOException($"IOCTL_DISK_GET_LENGTH_INFO failed: {Win32Message(error)}");
        }
        return length;
    }

    public SafeFileHandle OpenBlockDevice(string path, bool write)
    {
        // A disk must be opened shared for reading and writing (Windows itself keeps its volumes open); a
        // mounted volume on it refuses writes to its own sectors, which the copy reports as a write error.
        try
        {
            return File.OpenHandle(path, FileMode.Open, write ? FileAccess.ReadWrite : FileAccess.Read, FileShare.ReadWrite);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new ImageToolsException(ErrorKind.DestinationUnwritable,
                $"{path}: access denied; writing to a disk needs an elevated prompt (Run as administrator)", e) { Path = path };
        }
    }

    /// <summary>
    /// A regular file on a volume with sparse files (NTFS, ReFS): asks by marking it sparse and zeroing an empty
    /// range, which NTFS accepts as a no-op and FAT (or Wine, which implements neither call) refuses.
    /// </summary>
    public bool ZeroesCheaply(SafeFileHandle handle, FileKind kind) =>
        kind == FileKind.RegularFile && MarkSparse(handle) && _calls.SetZeroData(handle, 0, 0) == 0;

    public bool TryZeroRange(SafeFileHandle handle, FileKind kind, long offset, long length)
    {
        if (length <= 0)
        {
            return true;
        }
        if (kind != FileKind.RegularFile)
        {
            return false; // a disk has no FSCTL_SET_ZERO_DATA: the caller writes zeros
        }
        // On a file that is not sparse, FSCTL_SET_ZERO_DATA writes zeros (allocating them); made sparse first, it
        // deallocates the range as a hole punch does.
        if (!MarkSparse(handle))
        {
            return false; // FAT/exFAT: no sparse files; the caller writes zeros
        }
        return _calls.SetZeroData(handle, offset, offset + length) == 0;
    }

    public bool MarkSparse(SafeFileHandle handle)
    {
        if (_calls.GetFileInformation(handle, out var info) == 0 && (info.Attributes & FILE_ATTRIBUTE_SPARSE_FILE) != 0)
        {
            return true;
        }
        return _calls.SetSparse(handle) == 0;
    }

    public void FlushToDisk(SafeFileHandle handle) => RandomAccess.FlushToDisk(handle);

    public PartitionRereadResult RereadPartitionTable(SafeFileHandle handle, int attempts, TimeSpan delay, CancellationToken cancellation)
    {
        var error = _calls.UpdateDiskProperties(handle);
        if (error == 0)
        {
            return PartitionRereadResult.Done;
        }
        if (error is ERROR_INVALID_FUNCTION or ERROR_NOT_SUPPORTED)
        {
            return PartitionRereadResult.NotSupported;
        }
        throw new IOException($"IOCTL_DISK_UPDATE_PROPERTIES failed: {Win32Message(error)}");
    }

    /// <summary>Windows has no mount table to read from here; a mounted volume refuses the writes instead.</summary>
    public IReadOnlyList<DeviceUse> FindUsesOfBlockDevice(DeviceNumber device) => Array.Empty<DeviceUse>();

    private static string Win32Message(int error) => $"{System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(error)} (Win32 error {error})";
}
