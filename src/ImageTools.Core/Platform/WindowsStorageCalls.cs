using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace ImageTools.Core.Platform;

/// <summary>An allocated range as FSCTL_QUERY_ALLOCATED_RANGES reports it (FILE_ALLOCATED_RANGE_BUFFER).</summary>
internal readonly record struct AllocatedRange(long Offset, long Length);

/// <summary>What GetFileInformationByHandle and FileStandardInfo say about an open file.</summary>
internal readonly record struct WindowsFileInformation(uint Attributes, uint VolumeSerialNumber, ulong FileIndex, long EndOfFile, long AllocationSize);

/// <summary>
/// The Win32 calls <see cref="WindowsPlatformIo"/> makes, each returning the Win32 error code (0 on success)
/// instead of throwing, so that the decisions taken on them (what ERROR_MORE_DATA or an unsupported file
/// system means, when a file must first be made sparse) live in <see cref="WindowsPlatformIo"/> and are
/// unit-tested on any OS with a simulated volume. <see cref="Kernel32StorageCalls"/> is the real one.
/// </summary>
internal interface IWindowsStorageCalls
{
    /// <summary>FSCTL_QUERY_ALLOCATED_RANGES over [offset, offset+length): fills <paramref name="ranges"/>; ERROR_MORE_DATA when more follow.</summary>
    int QueryAllocatedRanges(SafeFileHandle handle, long offset, long length, Span<AllocatedRange> ranges, out int count);

    /// <summary>FSCTL_SET_SPARSE: from now on, zeroed ranges are deallocated instead of written.</summary>
    int SetSparse(SafeFileHandle handle);

    /// <summary>FSCTL_SET_ZERO_DATA over [offset, beyondFinalZero): deallocates on a sparse file, writes zeros otherwise.</summary>
    int SetZeroData(SafeFileHandle handle, long offset, long beyondFinalZero);

    /// <summary>IOCTL_DISK_GET_LENGTH_INFO: the size of a disk or volume opened as \\.\PhysicalDriveN or \\.\C:.</summary>
    int GetDiskLength(SafeFileHandle handle, out long length);

    /// <summary>IOCTL_DISK_UPDATE_PROPERTIES: makes Windows re-read a disk's partition table.</summary>
    int UpdateDiskProperties(SafeFileHandle handle);

    /// <summary>GetFileType: FILE_TYPE_DISK (1), FILE_TYPE_CHAR (2), FILE_TYPE_PIPE (3), or 0 with an error.</summary>
    uint GetFileType(SafeFileHandle handle);

    /// <summary>GetFileInformationByHandle plus GetFileInformationByHandleEx(FileStandardInfo).</summary>
    int GetFileInformation(SafeFileHandle handle, out WindowsFileInformation information);
}

/// <summary>kernel32's DeviceIoControl and friends (source-generated P/Invoke: trimming- and Native AOT-safe).</summary>
internal sealed partial class Kernel32StorageCalls : IWindowsStorageCalls
{
    // Control codes, winioctl.h: CTL_CODE(device type, function, method, access).
    internal const uint FSCTL_SET_SPARSE = 0x000900C4;            // (FILE_DEVICE_FILE_SYSTEM, 49, METHOD_BUFFERED, FILE_SPECIAL_ACCESS)
    internal const uint FSCTL_SET_ZERO_DATA = 0x000980C8;         // (FILE_DEVICE_FILE_SYSTEM, 50, METHOD_BUFFERED, FILE_WRITE_DATA)
    internal const uint FSCTL_QUERY_ALLOCATED_RANGES = 0x000940CF; // (FILE_DEVICE_FILE_SYSTEM, 51, METHOD_NEITHER, FILE_READ_DATA)
    internal const uint IOCTL_DISK_GET_LENGTH_INFO = 0x0007405C;  // (IOCTL_DISK_BASE, 0x17, METHOD_BUFFERED, FILE_READ_ACCESS)
    internal const uint IOCTL_DISK_UPDATE_PROPERTIES = 0x00070140; // (IOCTL_DISK_BASE, 0x50, METHOD_BUFFERED, FILE_ANY_ACCESS)
    private const int FileStandardInfo = 1;                       // FILE_INFO_BY_HANDLE_CLASS

    public unsafe int QueryAllocatedRanges(SafeFileHandle handle, long offset, long length, Span<AllocatedRange> ranges, out int count)
    {
        // Input and output are arrays of FILE_ALLOCATED_RANGE_BUFFER { LARGE_INTEGER FileOffset, Length }: 16 bytes each.
        var query = stackalloc long[2];
        query[0] = offset;
        query[1] = length;
        fixed (AllocatedRange* output = ranges)
        {
            var ok = DeviceIoControl(handle, FSCTL_QUERY_ALLOCATED_RANGES, query, 16, output, (uint)(ranges.Length * 16), out var returned, null);
            var error = ok ? 0 : Marshal.GetLastPInvokeError();
            count = error is 0 or WindowsPlatformIo.ERROR_MORE_DATA ? (int)(returned / 16) : 0;
            return error;
        }
    }

    public unsafe int SetSparse(SafeFileHandle handle)
    {
        byte setSparse = 1; // FILE_SET_SPARSE_BUFFER { BOOLEAN SetSparse }
        return DeviceIoControl(handle, FSCTL_SET_SPARSE, &setSparse, 1, null, 0, out _, null) ? 0 : Marshal.GetLastPInvokeError();
    }

    public unsafe int SetZeroData(SafeFileHandle handle, long offset, long beyondFinalZero)
    {
        var zero = stackalloc long[2]; // FILE_ZERO_DATA_INFORMATION { FileOffset, BeyondFinalZero }
        zero[0] = offset;
        zero[1] = beyondFinalZero;
        return DeviceIoControl(handle, FSCTL_SET_ZERO_DATA, zero, 16, null, 0, out _, null) ? 0 : Marshal.GetLastPInvokeError();
    }

    public unsafe int GetDiskLength(SafeFileHandle handle, out long length)
    {
        long value = 0; // GET_LENGTH_INFORMATION { LARGE_INTEGER Length }
        var ok = DeviceIoControl(handle, IOCTL_DISK_GET_LENGTH_INFO, null, 0, &value, 8, out _, null);
        length = value;
        return ok ? 0 : Marshal.GetLastPInvokeError();
    }

    public unsafe int UpdateDiskProperties(SafeFileHandle handle) =>
        DeviceIoControl(handle, IOCTL_DISK_UPDATE_PROPERTIES, null, 0, null, 0, out _, null) ? 0 : Marshal.GetLastPInvokeError();

    public uint GetFileType(SafeFileHandle handle) => GetFileTypeNative(handle);

    public unsafe int GetFileInformation(SafeFileHandle handle, out WindowsFileInformation information)
    {
        information = default;
        // BY_HANDLE_FILE_INFORMATION: dwFileAttributes @0, three FILETIMEs, dwVolumeSerialNumber @28,
        // nFileSizeHigh @32, nFileSizeLow @36, nNumberOfLinks @40, nFileIndexHigh @44, nFileIndexLow @48 (52 bytes).
        var byHandle = stackalloc uint[13];
        if (!GetFileInformationByHandle(handle, byHandle))
        {
            return Marshal.GetLastPInvokeError();
        }
        // FILE_STANDARD_INFO: AllocationSize @0, EndOfFile @8, NumberOfLinks @16, DeletePending, Directory (24 bytes).
        var standard = stackalloc long[3];
        long allocation = -1;
        if (GetFileInformationByHandleEx(handle, FileStandardInfo, standard, 24))
        {
            allocation = standard[0];
        }
        var size = ((long)byHandle[8] << 32) | byHandle[9];
        information = new WindowsFileInformation(byHandle[0], byHandle[7], ((ulong)byHandle[11] << 32) | byHandle[12], size, allocation < 0 ? size : allocation);
        return 0;
    }

    [LibraryImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static unsafe partial bool DeviceIoControl(SafeFileHandle device, uint controlCode, void* inBuffer, uint inSize,
        void* outBuffer, uint outSize, out uint bytesReturned, void* overlapped);

    [LibraryImport("kernel32.dll", EntryPoint = "GetFileType", SetLastError = true)]
    private static partial uint GetFileTypeNative(SafeFileHandle file);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static unsafe partial bool GetFileInformationByHandle(SafeFileHandle file, void* information);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static unsafe partial bool GetFileInformationByHandleEx(SafeFileHandle file, int informationClass, void* information, uint size);
}
