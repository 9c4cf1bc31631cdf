using System.Buffers.Binary;
using ImageTools.Core.Platform;
using Microsoft.Win32.SafeHandles;

namespace ImageTools.Core.Tests.Devices;

/// <summary>
/// An NTFS volume as <see cref="WindowsPlatformIo"/> sees it through <see cref="IWindowsStorageCalls"/>, simulated
/// over real Linux files: allocated ranges come from the file's SEEK_DATA/SEEK_HOLE ranges, cut into pieces of
/// <see cref="PieceSize"/> as NTFS cuts long runs, and a sparse file's FSCTL_SET_ZERO_DATA punches a hole. A
/// file not marked sparse has its zeroed range written with zeros, as NTFS does. Switches make it a FAT volume
/// (no sparse files, no allocated ranges) or Wine (FSCTL_SET_SPARSE ignored, the other two unsupported).
/// </summary>
internal sealed class SimulatedNtfs : IWindowsStorageCalls
{
    private readonly LinuxPlatformIo _linux = new();
    private readonly HashSet<IntPtr> _sparse = new();

    public long PieceSize { get; init; } = 64 * 1024;

    /// <summary>FAT32/exFAT: FSCTL_SET_SPARSE, SET_ZERO_DATA and QUERY_ALLOCATED_RANGES fail with ERROR_INVALID_FUNCTION.</summary>
    public bool Fat { get; init; }

    /// <summary>Wine 8: SET_SPARSE succeeds doing nothing; SET_ZERO_DATA and QUERY_ALLOCATED_RANGES are unsupported.</summary>
    public bool Wine { get; init; }

    public Dictionary<long, long> DiskLengths { get; } = new();

    public List<string> Calls { get; } = new();

    public int QueryAllocatedRanges(SafeFileHandle handle, long offset, long length, Span<AllocatedRange> ranges, out int count)
    {
        Calls.Add($"query {offset} {length}");
        count = 0;
        if (Fat || Wine)
        {
            return Wine ? WindowsPlatformIo.ERROR_NOT_SUPPORTED : WindowsPlatformIo.ERROR_INVALID_FUNCTION;
        }
        var end = offset + length;
        var position = offset;
        while (position < end)
        {
            var extent = _linux.FindNextData(handle, position, end);
            if (extent == null)
            {
                break;
            }
            // NTFS reports whole runs: a range may start before the offset asked for (the run holding it).
            var start = extent.Value.Offset / PieceSize * PieceSize;
            var stop = extent.Value.Offset + extent.Value.Length;
            for (var p = start; p < stop; p += PieceSize)
            {
                if (count == ranges.Length)
                {
                    return WindowsPlatformIo.ERROR_MORE_DATA;
                }
                ranges[count++] = new AllocatedRange(p, Math.Min(PieceSize, stop - p));
            }
            position = stop;
        }
        return 0;
    }

    public int SetSparse(SafeFileHandle handle)
    {
        Calls.Add("set-sparse");
        if (Fat)
        {
            return WindowsPlatformIo.ERROR_INVALID_FUNCTION;
        }
        if (!Wine)
        {
            _sparse.Add(handle.DangerousGetHandle());
        }
        return 0;
    }

    public int SetZeroData(SafeFileHandle handle, long offset, long beyondFinalZero)
    {
        Calls.Add($"zero {offset} {beyondFinalZero}");
        if (Fat || Wine)
        {
            return Wine ? WindowsPlatformIo.ERROR_NOT_SUPPORTED : WindowsPlatformIo.ERROR_INVALID_FUNCTION;
        }
        if (beyondFinalZero < offset)
        {
            return WindowsPlatformIo.ERROR_INVALID_PARAMETER;
        }
        if (_sparse.Contains(handle.DangerousGetHandle()))
        {
            _linux.TryZeroRange(handle, FileKind.RegularFile, offset, beyondFinalZero - offset);
        }
        else
        {
            RandomAccess.Write(handle, new byte[beyondFinalZero - offset], offset);
        }
        return 0;
    }

    public int GetDiskLength(SafeFileHandle handle, out long length)
    {
        length = 0;
        return DiskLengths.TryGetValue(handle.DangerousGetHandle(), out length) ? 0 : WindowsPlatformIo.ERROR_INVALID_FUNCTION;
    }

    public int UpdateDiskProperties(SafeFileHandle handle) => WindowsPlatformIo.ERROR_INVALID_FUNCTION;

    public uint GetFileType(SafeFileHandle handle) => 1; // FILE_TYPE_DISK: files and disks alike

    public int GetFileInformation(SafeFileHandle handle, out WindowsFileInformation information)
    {
        if (DiskLengths.ContainsKey(handle.DangerousGetHandle()))
        {
            information = default;
            return WindowsPlatformIo.ERROR_INVALID_FUNCTION;
        }
        var id = _linux.GetIdentity(handle);
        var attributes = (id.Kind == FileKind.Directory ? 0x10u : 0x80u) | (_sparse.Contains(handle.DangerousGetHandle()) ? 0x200u : 0);
        information = new WindowsFileInformation(attributes, id.Device.Minor, id.Inode, id.Size, id.AllocatedBytes);
        return 0;
    }
}

/// <summary>
/// macOS libc as <see cref="MacPlatformIo"/> sees it through <see cref="IDarwinCalls"/>, over real Linux files:
/// lseek takes Darwin's whence values (SEEK_HOLE 3, SEEK_DATA 4, the reverse of Linux), F_PUNCHHOLE refuses
/// ranges that are not whole 4 KiB blocks (EINVAL, as APFS does), stat fills Darwin's 144-byte struct stat.
/// </summary>
internal sealed class SimulatedDarwin : IDarwinCalls
{
    private const int DarwinSeekHole = 3;
    private const int DarwinSeekData = 4;
    private readonly LinuxPlatformIo _linux = new();

    public int BlockSize { get; init; } = 4096;

    /// <summary>HFS+: no F_PUNCHHOLE (ENOTSUP).</summary>
    public bool Hfs { get; init; }

    public HashSet<string> RawDisks { get; } = new();

    public List<string> Calls { get; } = new();

    public long LSeek(SafeFileHandle handle, long offset, int whence, out int errno)
    {
        errno = 0;
        var length = RandomAccess.GetLength(handle);
        if (offset >= length)
        {
            errno = MacPlatformIo.ENXIO;
            return -1;
        }
        var extent = _linux.FindNextData(handle, offset, length);
        switch (whence)
        {
            case DarwinSeekData:
                if (extent == null)
                {
                    errno = MacPlatformIo.ENXIO;
                    return -1;
                }
                return extent.Value.Offset;
            case DarwinSeekHole:
                return extent is { } e && e.Offset <= offset ? e.Offset + e.Length : offset;
            default:
                errno = MacPlatformIo.EINVAL;
                return -1;
        }
    }

    public int PunchHole(SafeFileHandle handle, long offset, long length, out int errno)
    {
        Calls.Add($"punch {offset} {length}");
        errno = 0;
        if (Hfs)
        {
            errno = MacPlatformIo.ENOTSUP;
            return -1;
        }
        if (offset % BlockSize != 0 || length % BlockSize != 0)
        {
            errno = MacPlatformIo.EINVAL;
            return -1;
        }
        _linux.TryZeroRange(handle, FileKind.RegularFile, offset, length);
        return 0;
    }

    public int GetDiskGeometry(SafeFileHandle handle, out uint blockSize, out ulong blockCount, out int errno)
    {
        blockSize = 0;
        blockCount = 0;
        errno = MacPlatformIo.ENOTTY;
        return -1;
    }

    public int Stat(string path, Span<byte> buffer, out int errno)
    {
        errno = 0;
        if (RawDisks.Contains(path))
        {
            // crw-r-----  1 root  operator  1,   4 ... /dev/rdisk4
            buffer.Clear();
            BinaryPrimitives.WriteUInt16LittleEndian(buffer[MacPlatformIo.StatModeOffset..], 0x2000 | 0x1A0);
            BinaryPrimitives.WriteUInt32LittleEndian(buffer[MacPlatformIo.StatRdevOffset..], (1u << 24) | 4);
            return 0;
        }
        var id = _linux.GetIdentity(path);
        if (!id.Exists)
        {
            errno = MacPlatformIo.ENOENT;
            return -1;
        }
        Fill(buffer, id);
        return 0;
    }

    public int FStat(SafeFileHandle handle, Span<byte> buffer, out int errno)
    {
        errno = 0;
        Fill(buffer, _linux.GetIdentity(handle));
        return 0;
    }

    public int FileSystemBlockSize(SafeFileHandle handle, out int blockSize, out int errno)
    {
        errno = 0;
        blockSize = BlockSize;
        return 0;
    }

    private static void Fill(Span<byte> b, FileIdentity id)
    {
        b.Clear();
        uint type = id.Kind switch
        {
            FileKind.RegularFile => 0x8000,
            FileKind.Directory => 0x4000,
            FileKind.BlockDevice => 0x6000,
            FileKind.CharacterDevice => 0x2000,
            FileKind.Pipe => 0x1000,
            _ => 0xC000,
        };
        BinaryPrimitives.WriteUInt32LittleEndian(b[MacPlatformIo.StatDevOffset..], (id.Device.Major << 24) | (id.Device.Minor & 0xFFFFFF));
        BinaryPrimitives.WriteUInt16LittleEndian(b[MacPlatformIo.StatModeOffset..], (ushort)(type | id.UnixMode));
        BinaryPrimitives.WriteUInt64LittleEndian(b[MacPlatformIo.StatInodeOffset..], id.Inode);
        BinaryPrimitives.WriteInt64LittleEndian(b[MacPlatformIo.StatSizeOffset..], id.Size);
        BinaryPrimitives.WriteInt64LittleEndian(b[MacPlatformIo.StatBlocksOffset..], id.AllocatedBytes / 512);
    }
}
